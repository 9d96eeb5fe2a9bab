// Command linecount counts the lines of every input file of a compute job
// and writes the counts to /data/outputs/lines.txt.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

func main() {
	var dids []string
	if err := json.Unmarshal([]byte(os.Getenv("DIDS")), &dids); err != nil {
		fmt.Fprintln(os.Stderr, "DIDS:", err)
		os.Exit(1)
	}
	var out strings.Builder
	total := 0
	for _, did := range dids {
		files, err := os.ReadDir(filepath.Join("/data/inputs", did))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		for _, f := range files {
			n, err := count(filepath.Join("/data/inputs", did, f.Name()))
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			fmt.Fprintf(&out, "%s/%s %d\n", did, f.Name(), n)
			total += n
		}
	}
	fmt.Fprintf(&out, "total %d\n", total)
	if err := os.WriteFile("/data/outputs/lines.txt", []byte(out.String()), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("counted %d lines in %d datasets\n", total, len(dids))
}

func count(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	n := 0
	for sc.Scan() {
		n++
	}
	return n, sc.Err()
}
