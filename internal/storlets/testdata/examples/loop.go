package main

var counter int

// loop never ends.
func loop() {
	for {
		counter++
	}
}
