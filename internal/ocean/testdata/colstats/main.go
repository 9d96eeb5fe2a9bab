// Command colstats computes count, min, max and mean of one numeric column
// of the first dataset's CSV file. The column is named by the custom data
// ({"column": "..."}).
package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(1)
}

func main() {
	var dids []string
	if err := json.Unmarshal([]byte(os.Getenv("DIDS")), &dids); err != nil || len(dids) == 0 {
		fail("DIDS: %v", err)
	}
	var custom struct{ Column string }
	raw, err := os.ReadFile("/data/inputs/algoCustomData.json")
	if err != nil {
		fail("custom data: %v", err)
	}
	if err := json.Unmarshal(raw, &custom); err != nil || custom.Column == "" {
		fail("custom data must name a column: %s", raw)
	}
	f, err := os.Open(filepath.Join("/data/inputs", dids[0], "0"))
	if err != nil {
		fail("%v", err)
	}
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil || len(rows) < 2 {
		fail("not a CSV file with a header and rows: %v", err)
	}
	col := -1
	for i, name := range rows[0] {
		if name == custom.Column {
			col = i
		}
	}
	if col < 0 {
		fail("no column %q", custom.Column)
	}
	var n int
	var sum, lo, hi float64
	for _, r := range rows[1:] {
		v, err := strconv.ParseFloat(r[col], 64)
		if err != nil {
			continue
		}
		if n == 0 || v < lo {
			lo = v
		}
		if n == 0 || v > hi {
			hi = v
		}
		sum += v
		n++
	}
	out := fmt.Sprintf("column,count,min,max,mean\n%s,%d,%g,%g,%g\n", custom.Column, n, lo, hi, sum/float64(n))
	if err := os.WriteFile("/data/outputs/stats.csv", []byte(out), 0o644); err != nil {
		fail("%v", err)
	}
	fmt.Println("stats written")
}
