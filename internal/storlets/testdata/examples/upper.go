package main

import (
	"bufio"
	"io"
	"os"
)

// upper writes its input in upper case (ASCII), streaming.
func upper() {
	in := bufio.NewReaderSize(os.Stdin, 64<<10)
	out := bufio.NewWriterSize(os.Stdout, 64<<10)
	buf := make([]byte, 64<<10)
	for {
		n, err := in.Read(buf)
		for i, c := range buf[:n] {
			if 'a' <= c && c <= 'z' {
				buf[i] = c - 'a' + 'A'
			}
		}
		if _, werr := out.Write(buf[:n]); werr != nil {
			os.Exit(1)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			os.Stderr.WriteString("upper: " + err.Error() + "\n")
			os.Exit(1)
		}
	}
	if err := out.Flush(); err != nil {
		os.Exit(1)
	}
}
