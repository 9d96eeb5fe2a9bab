package persist

// SetListingChunk makes listings read n rows at a time until the test ends.
func SetListingChunk(t interface{ Cleanup(func()) }, n int) {
	old := listingChunk
	listingChunk = n
	t.Cleanup(func() { listingChunk = old })
}
