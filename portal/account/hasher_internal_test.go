package account

import (
	"context"
	"errors"
	"testing"
)

// TestHasher_Busy: when every slot is taken, Hash and Verify wait, and give
// up with the context rather than hashing beyond the limit.
func TestHasher_Busy(t *testing.T) {
	h := NewHasher()
	if cap(h.sem) < 2 {
		t.Fatalf("%d slots, want at least two", cap(h.sem))
	}
	for range cap(h.sem) {
		h.sem <- struct{}{}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()

	if hash, err := h.Hash(ctx, "mot de passe"); !errors.Is(err, context.Canceled) || hash != "" {
		t.Errorf("Hash with all slots taken = %q, %v; want context.Canceled", hash, err)
	}
	if ok, err := h.Verify(ctx, "mot de passe", h.dummy); !errors.Is(err, context.Canceled) || ok {
		t.Errorf("Verify with all slots taken = %v, %v; want false, context.Canceled", ok, err)
	}

	<-h.sem // one slot frees up
	if _, err := h.Hash(context.Background(), "mot de passe"); err != nil {
		t.Errorf("Hash with a free slot: %v", err)
	}
	if n := len(h.sem); n != cap(h.sem)-1 {
		t.Errorf("slots taken after Hash returned: %d, want %d (released)", n, cap(h.sem)-1)
	}
}
