package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"spamgate/admin"
)

const adminUsage = `usage: spamgate admin passwd NAME -file USERS_FILE

  Adds NAME to the admin console's users file ([admin] users_file), or
  changes its password: the password is read from standard input (one
  line), asked for twice without echo on a terminal. It is stored as a
  bcrypt hash (cost 12); the file is replaced atomically (mode 0600), and
  a running spamgate reads it again at the next login.
`

func adminCmd(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) < 2 || args[0] != "passwd" || strings.HasPrefix(args[1], "-") {
		fmt.Fprint(stderr, adminUsage)
		return 2
	}
	name := args[1]
	fs := flag.NewFlagSet("admin passwd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("file", "", "users file ([admin] users_file)")
	if err := fs.Parse(args[2:]); err != nil {
		return 2
	}
	if *file == "" || fs.NArg() > 0 {
		fmt.Fprint(stderr, adminUsage)
		return 2
	}
	if err := admin.ValidUserName(name); err != nil {
		fmt.Fprintln(stderr, "admin passwd:", err)
		return 1
	}
	pass, err := readPassword(stdin, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "admin passwd:", err)
		return 1
	}
	if err := admin.SetPassword(*file, name, pass); err != nil {
		fmt.Fprintln(stderr, "admin passwd:", err)
		return 1
	}
	fmt.Fprintf(stdout, "password of %s set in %s\n", name, *file)
	return 0
}

// readPassword reads one line; on a terminal it asks twice, without echo.
func readPassword(stdin io.Reader, stderr io.Writer) (string, error) {
	f, isFile := stdin.(*os.File)
	if isFile && isTerminal(f) {
		p1, err := promptNoEcho(f, stderr, "password: ")
		if err != nil {
			return "", err
		}
		p2, err := promptNoEcho(f, stderr, "again: ")
		if err != nil {
			return "", err
		}
		if p1 != p2 {
			return "", errors.New("the passwords differ")
		}
		return checkPassword(p1)
	}
	line, err := bufio.NewReader(io.LimitReader(stdin, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password: %w", err)
	}
	return checkPassword(strings.TrimRight(line, "\r\n"))
}

// checkPassword refuses what is no password at all; bcrypt uses at most
// 72 bytes.
func checkPassword(p string) (string, error) {
	switch {
	case p == "":
		return "", errors.New("empty password")
	case len(p) > 72:
		return "", errors.New("a password is at most 72 bytes (bcrypt ignores the rest)")
	}
	return p, nil
}

func promptNoEcho(f *os.File, stderr io.Writer, prompt string) (string, error) {
	fmt.Fprint(stderr, prompt)
	restore, err := noEcho(f)
	if err != nil {
		return "", err
	}
	line, rerr := bufio.NewReader(f).ReadString('\n')
	restore()
	fmt.Fprintln(stderr)
	if rerr != nil && !errors.Is(rerr, io.EOF) {
		return "", fmt.Errorf("read password: %w", rerr)
	}
	return strings.TrimRight(line, "\r\n"), nil
}
