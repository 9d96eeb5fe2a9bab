package main

import (
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"strings"
)

// csvselect keeps the CSV columns named by the select parameter (a comma
// separated list of header names, as select=user_id,name), in that order.
// It reads the parameter from its arguments (key=value) and checks that the
// environment agrees.
func csvselect() {
	var sel string
	for _, a := range os.Args[1:] {
		if k, v, ok := strings.Cut(a, "="); ok && k == "select" {
			sel = v
		}
	}
	if env := os.Getenv("STORLET_PARAM_SELECT"); env != sel {
		csvFail("argument select=%q but STORLET_PARAM_SELECT=%q", sel, env)
	}
	if sel == "" {
		csvFail("no select parameter: pass select=<column>,<column>")
	}
	r := csv.NewReader(os.Stdin)
	r.FieldsPerRecord = -1
	w := csv.NewWriter(os.Stdout)
	header, err := r.Read()
	if err != nil {
		csvFail("reading the header: %v", err)
	}
	var idx []int
	for _, name := range strings.Split(sel, ",") {
		found := -1
		for i, h := range header {
			if h == name {
				found = i
			}
		}
		if found < 0 {
			csvFail("no column %q", name)
		}
		idx = append(idx, found)
	}
	for rec := header; ; {
		row := make([]string, len(idx))
		for i, j := range idx {
			if j < len(rec) {
				row[i] = rec[j]
			}
		}
		w.Write(row)
		if rec, err = r.Read(); err == io.EOF {
			break
		} else if err != nil {
			csvFail("%v", err)
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		csvFail("%v", err)
	}
}

func csvFail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "csvselect: "+format+"\n", args...)
	os.Exit(2)
}
