package dgfipsim

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"sync"
	"time"
)

// gregorianOffset is the number of 100-ns intervals between the start of
// the Gregorian calendar (1582-10-15), where version-1 UUID time starts,
// and the Unix epoch.
const gregorianOffset = 122_192_928_000_000_000

// uuidGen makes version-1 UUIDs, as DGFiP's idOps are, from the injected
// clock. It is written here rather than taken from a UUID module so that the
// time inside the id is the stand-in's clock and ids stay unique when a
// test freezes that clock (the timestamp then counts up by one).
type uuidGen struct {
	mu   sync.Mutex
	last uint64
	seq  uint16
	node [6]byte
}

func newUUIDGen() *uuidGen {
	var b [8]byte
	rand.Read(b[:]) // never fails since Go 1.24
	g := &uuidGen{seq: binary.BigEndian.Uint16(b[:2]) & 0x3fff}
	copy(g.node[:], b[2:])
	g.node[0] |= 0x01 // multicast bit: a random node, not a MAC address (RFC 9562 §6.10)
	return g
}

func (g *uuidGen) next(now time.Time) string {
	ts := uint64(now.UnixNano()/100) + gregorianOffset
	g.mu.Lock()
	if ts <= g.last {
		ts = g.last + 1
	}
	g.last = ts
	g.mu.Unlock()

	var u [16]byte
	binary.BigEndian.PutUint32(u[0:], uint32(ts))
	binary.BigEndian.PutUint16(u[4:], uint16(ts>>32))
	binary.BigEndian.PutUint16(u[6:], uint16(ts>>48)&0x0fff|0x1000) // version 1
	binary.BigEndian.PutUint16(u[8:], g.seq|0x8000)                 // RFC 4122 variant
	copy(u[10:], g.node[:])

	var s [36]byte
	hex.Encode(s[0:8], u[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], u[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], u[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], u[8:10])
	s[23] = '-'
	hex.Encode(s[24:], u[10:])
	return string(s[:])
}
