package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/crypto/bcrypt"

	"spamgate/admin"
	"spamgate/admin/rulefile"
	"spamgate/config"
)

const adminUsage = `usage: spamgate admin passwd NAME -file USERS_FILE [-cost N]

  Adds NAME to the admin console's users file ([admin] users_file), or
  changes its password: the password is read from standard input (one
  line), asked for twice without echo on a terminal. It is stored as a
  bcrypt hash (cost 12, or -cost N above it); the file is replaced atomically (mode 0600), and
  a running spamgate reads it again at the next login.
`

func adminCmd(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) < 2 || args[0] != "passwd" || strings.HasPrefix(args[1], "-") {
		fmt.Fprint(stderr, adminUsage)
		return 2
	}
	name := args[1]
	fs, file, cost := passwdFlags(stderr)
	if err := fs.Parse(args[2:]); err != nil {
		return 2
	}
	if *file == "" || fs.NArg() > 0 || *cost < admin.BcryptCost || *cost > bcrypt.MaxCost {
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
	if err := admin.SetPassword(*file, name, pass, *cost); err != nil {
		fmt.Fprintln(stderr, "admin passwd:", err)
		return 1
	}
	fmt.Fprintf(stdout, "password of %s set in %s\n", name, *file)
	return 0
}

// passwdFlags are admin passwd's flags; -cost may only raise bcrypt's
// cost above admin.BcryptCost.
func passwdFlags(stderr io.Writer) (fs *flag.FlagSet, file *string, cost *int) {
	fs = flag.NewFlagSet("admin passwd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file = fs.String("file", "", "users file ([admin] users_file)")
	cost = fs.Int("cost", admin.BcryptCost, "bcrypt cost (at least the default)")
	return fs, file, cost
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

// checkAdmin is check-config's part for [admin]: the rules file as serve
// reads it (a bad rule is named with its line, in the words the console's
// API answers with) and the users file.
func checkAdmin(cfg *config.Config, stdout, stderr io.Writer) bool {
	a := cfg.Admin
	if a.RulesFile != "" {
		rs, err := rulefile.Open(a.RulesFile)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return false
		}
		fmt.Fprintf(stdout, "# admin rules %s: %d rules\n", a.RulesFile, rs.Len())
	}
	if a.Listen != "" && a.UsersFile != "" {
		data, err := os.ReadFile(a.UsersFile)
		if err != nil {
			fmt.Fprintln(stderr, "admin.users_file:", err)
			return false
		}
		users, err := admin.ParseUsers(a.UsersFile, data)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return false
		}
		fmt.Fprintf(stdout, "# admin users %s: %d users\n", a.UsersFile, len(users))
	}
	return true
}
