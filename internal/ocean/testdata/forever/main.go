// Command forever never ends: a busy loop that calls nothing.
package main

import "fmt"

var sink uint64

func main() {
	fmt.Println("spinning")
	for i := uint64(0); ; i++ {
		sink += i * i
	}
}
