// Command revad builds reva's daemon from the upstream module at the version pinned in go.mod.
//
// reva's own go.mod carries replace directives, so `go install` of its cmd/revad fails; a
// module of our own that imports the command package and calls its Main sidesteps that.
package main

import revad "github.com/cs3org/reva/v3/cmd/revad"

func main() {
	revad.Main()
}
