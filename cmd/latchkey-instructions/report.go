package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/latchkeyhq/latchkey/internal/thousands"
)

// writeTable prints the paths' counts in each tree as a markdown table,
// with the last tree's over the first's when there are two.
func writeTable(w io.Writer, ps []path, trees []*tree, results [][]result) error {
	head := []string{"path", "what"}
	align := []string{"---", "---"}
	for i, t := range trees {
		h := t.label
		if i == 0 {
			h = "instructions/op, " + h
		}
		head = append(head, h)
		align = append(align, "---:")
	}
	if len(trees) == 2 {
		head = append(head, "new/old")
		align = append(align, "---:")
	}
	var b strings.Builder
	row := func(cells []string) { b.WriteString("| " + strings.Join(cells, " | ") + " |\n") }
	row(head)
	row(align)
	for pi, p := range ps {
		cells := []string{p.name, p.what}
		for ti := range trees {
			cells = append(cells, formatCount(results[ti][pi]))
		}
		if len(trees) == 2 {
			cells = append(cells, formatRatio(results[0][pi], results[1][pi]))
		}
		row(cells)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// formatCount rounds a count to the hundred, with thousands separated:
// the runs of one commit differ by about 1 % of a request's count.
func formatCount(r result) string {
	if r.na != "" {
		return r.na
	}
	n := int64(r.perOp/100+0.5) * 100
	if r.perOp < 0 {
		n = -int64(-r.perOp/100+0.5) * 100
	}
	return thousands.Format(n)
}

func formatRatio(old, new result) string {
	if old.na != "" || new.na != "" || old.perOp <= 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", new.perOp/old.perOp)
}
