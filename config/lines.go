package config

import (
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
)

// lineIndex maps dotted key paths to the line where they were first written,
// so that validation errors (found after decoding) can name a line too.
type lineIndex map[string]int

// keyLines indexes every key of a document that already decoded cleanly.
// Array-table entries share one path; the first occurrence wins for the path,
// and "path#N" (N counted from 0) holds the line of the N-th entry's key.
func keyLines(data []byte) lineIndex {
	idx := lineIndex{}
	p := unstable.Parser{}
	p.Reset(data)
	var table string
	arrayCount := map[string]int{}
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			table = joinKey(e.Key())
			if e.Kind == unstable.ArrayTable {
				n := arrayCount[table]
				arrayCount[table] = n + 1
				idx.add(table+"#"+strconv.Itoa(n), lineOf(&p, e))
			}
			idx.add(table, lineOf(&p, e))
		case unstable.KeyValue:
			k := joinKey(e.Key())
			if table != "" {
				k = table + "." + k
			}
			idx.add(k, lineOf(&p, e))
			if n, ok := arrayCount[table]; ok {
				idx.add(table+"#"+strconv.Itoa(n-1)+"."+strings.TrimPrefix(k, table+"."), lineOf(&p, e))
			}
		}
	}
	return idx
}

func (idx lineIndex) add(key string, line int) {
	if _, ok := idx[key]; !ok && line > 0 {
		idx[key] = line
	}
}

// find returns the line of key, or of its closest written parent, or 0.
func (idx lineIndex) find(key string) int {
	for k := key; k != ""; {
		if l, ok := idx[k]; ok {
			return l
		}
		i := strings.LastIndexAny(k, ".#")
		if i < 0 {
			break
		}
		k = k[:i]
	}
	return 0
}

func joinKey(it unstable.Iterator) string {
	var parts []string
	for it.Next() {
		parts = append(parts, string(it.Node().Data))
	}
	return strings.Join(parts, ".")
}

func lineOf(p *unstable.Parser, e *unstable.Node) int {
	it := e.Key()
	if !it.Next() {
		return 0
	}
	n := it.Node()
	if len(p.Raw(n.Raw)) == 0 {
		return 0
	}
	return p.Shape(n.Raw).Start.Line
}
