// Package loader registers the storage drivers this test build of revad offers.
//
// It stands in for reva's own pkg/storage/fs/loader through `go build -overlay`: the EOS
// driver is left out because the Go module proxy does not serve the go-eosgrpc version it
// needs. Everything else in revad is reva's code, unchanged.
package loader

import (
	_ "github.com/cs3org/reva/v3/pkg/ocm/storage/outcoming"
	_ "github.com/cs3org/reva/v3/pkg/ocm/storage/received"
	_ "github.com/cs3org/reva/v3/pkg/storage/fs/cephfs"
	_ "github.com/cs3org/reva/v3/pkg/storage/fs/cephmount"
	_ "github.com/cs3org/reva/v3/pkg/storage/fs/local"
	_ "github.com/cs3org/reva/v3/pkg/storage/fs/localhome"
)
