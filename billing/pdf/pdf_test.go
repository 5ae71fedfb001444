package pdf

import (
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/regie/regie/billing"
)

func sample() Invoice {
	return Invoice{
		Commune:     Commune{Name: "Mairie de Démonstration", Address: "1 place de la Mairie, 84000 Démonstration", Email: "mairie@demo.example.fr"},
		Family:      Family{Ref: "F0001", Name: "Famille Martin", Address: "12 rue des Écoles", PostalCode: "84000", City: "Démonstration"},
		Reference:   "2015-RS-00-8001516",
		SeriesLabel: "Restauration scolaire",
		Period:      time.Date(2015, 10, 1, 0, 0, 0, 0, time.UTC),
		IssueDate:   time.Date(2015, 11, 2, 0, 0, 0, 0, time.UTC),
		DueDate:     time.Date(2015, 11, 30, 0, 0, 0, 0, time.UTC),
		Lines:       []billing.Line{{Position: 1, Label: "Repas", QuantityMilli: 15000, UnitPriceCents: 250, TotalCents: 3750}},
		TotalCents:  3750,
		PortalURL:   "http://demo.localhost:8080",
		Numcli:      "001964",
	}
}

func BenchmarkRender(b *testing.B) {
	inv := sample()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := Render(io.Discard, inv); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func TestRender_Deterministic(t *testing.T) {
	var a, b bytes.Buffer
	if err := Render(&a, sample()); err != nil {
		t.Fatal(err)
	}
	if err := Render(&b, sample()); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("two renderings of the same invoice differ")
	}
}
