// Package api holds the wire types of every face of a dds node: the JSON
// shapes that the node writes and reads and that the Go client (package
// client) sends and decodes. One file per face; the faces and the client
// import these types, so the two sides cannot drift apart.
package api
