package payfip_test

import (
	"context"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/regie/regie/payments/payfip"
)

func TestClient_CreatePayment_Answer(t *testing.T) {
	for _, style := range answerStyles {
		for _, name := range []string{"idOp", "idop"} {
			t.Run(style.name+"/"+name, func(t *testing.T) {
				client, _ := fakeDGFiP(t, http.StatusOK, style.write("creerPaiementSecurise", "<"+name+">"+sampleIDOp+"</"+name+">"))
				id, err := client.CreatePayment(context.Background(), payfip.CreateRequest{})
				if err != nil {
					t.Fatalf("CreatePayment: %v", err)
				}
				if id != sampleIDOp {
					t.Errorf("idOp %q, want %q", id, sampleIDOp)
				}
			})
		}
	}
}

func TestClient_PaymentDetails_Answer(t *testing.T) {
	sample := payfip.Details{
		IDOp: sampleIDOp, Resultrans: "V", Numauto: "112233445566-tip", Numcli: sampleNumcli, Refdet: "ABCDEFGH",
		Exer: "2019", Mel: "john.doe@example.com", Objet: "coucou", Saisie: "T", Montant: 1000,
		Dattrans: "12122019", Heurtrans: "1311",
	}
	for _, style := range answerStyles {
		t.Run(style.name, func(t *testing.T) {
			client, _ := fakeDGFiP(t, http.StatusOK, style.write("recupererDetailPaiementSecurise", sampleDetailsReturn))
			d, err := client.PaymentDetails(context.Background(), sampleIDOp)
			if err != nil {
				t.Fatalf("PaymentDetails: %v", err)
			}
			if d != sample {
				t.Errorf("details\n got %+v\nwant %+v", d, sample)
			}
		})
	}

	t.Run("RefusedWithoutNumautoNorObjet", func(t *testing.T) {
		// JAX-WS leaves out null fields: no numauto on a refusal, no objet
		// when none was given.
		ret := `<dattrans>04052021</dattrans><exer>2021</exer><heurtrans>1325</heurtrans><idop>` + sampleIDOp + `</idop>` +
			`<mel>john.doe@example.com</mel><montant>10522</montant><numcli>001964</numcli>` +
			`<refdet>FAC2021000001</refdet><resultrans>R</resultrans><saisie>X</saisie>`
		client, _ := fakeDGFiP(t, http.StatusOK, jaxws("recupererDetailPaiementSecurise", ret))
		d, err := client.PaymentDetails(context.Background(), sampleIDOp)
		if err != nil {
			t.Fatalf("PaymentDetails: %v", err)
		}
		want := payfip.Details{
			IDOp: sampleIDOp, Resultrans: "R", Numcli: "001964", Refdet: "FAC2021000001", Exer: "2021",
			Mel: "john.doe@example.com", Saisie: "X", Montant: 10522, Dattrans: "04052021", Heurtrans: "1325",
		}
		if d != want {
			t.Errorf("details\n got %+v\nwant %+v", d, want)
		}
	})

	t.Run("UnreadableMontant", func(t *testing.T) {
		client, _ := fakeDGFiP(t, http.StatusOK, jaxws("recupererDetailPaiementSecurise", "<resultrans>P</resultrans><montant>10,00</montant>"))
		if d, err := client.PaymentDetails(context.Background(), sampleIDOp); err == nil {
			t.Errorf("PaymentDetails with montant 10,00 = %+v, want an error", d)
		}
	})
}

func TestClient_ClientDetails_Answer(t *testing.T) {
	for _, style := range answerStyles {
		t.Run(style.name, func(t *testing.T) {
			client, _ := fakeDGFiP(t, http.StatusOK, style.write("recupererDetailClient", sampleClientReturn))
			info, err := client.ClientDetails(context.Background(), sampleNumcli)
			if err != nil {
				t.Fatalf("ClientDetails: %v", err)
			}
			if want := (payfip.ClientInfo{Numcli: "090909", Label2: "POUETPOUET"}); info != want {
				t.Errorf("client %+v, want %+v", info, want)
			}
		})
	}
}

func TestParseAnswer_Fields(t *testing.T) {
	body := answerStyles[1].write("recupererDetailClient",
		"<libelleN1>  DGFIP </libelleN1>\n<libelleN2>A &amp; B</libelleN2><libelleN3><![CDATA[R<3>]]></libelleN3><numCli>090909</numCli>")
	got, fault, err := payfip.ParseAnswer([]byte(body))
	if err != nil || fault != nil {
		t.Fatalf("ParseAnswer: fault %v, error %v", fault, err)
	}
	want := map[string]string{"libellen1": "DGFIP", "libellen2": "A & B", "libellen3": "R<3>", "numcli": "090909"}
	if !maps.Equal(got, want) {
		t.Errorf("fields %q, want %q (local names lower-cased, text trimmed and unescaped)", got, want)
	}
}

func TestDetails_TransactionTime(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name                string
		dattrans, heurtrans string
		want                time.Time
	}{
		{"RecordedSampleWinter", "12122019", "1311", time.Date(2019, 12, 12, 12, 11, 0, 0, time.UTC)},
		{"Summer", "04052021", "1325", time.Date(2021, 5, 4, 11, 25, 0, 0, time.UTC)},
		{"Absent", "", "", time.Time{}},
		{"NoHour", "12122019", "", time.Time{}},
		{"NoSuchDay", "31022019", "1311", time.Time{}},
		{"Garbage", "hier", "midi", time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := payfip.Details{Dattrans: tt.dattrans, Heurtrans: tt.heurtrans}.TransactionTime()
			if !got.Equal(tt.want) {
				t.Errorf("TransactionTime(%q, %q) = %v, want %v", tt.dattrans, tt.heurtrans, got, tt.want.In(paris))
			}
			if !tt.want.IsZero() && got.Location().String() != "Europe/Paris" {
				t.Errorf("TransactionTime location %v, want Europe/Paris", got.Location())
			}
		})
	}
}

// A 200 that carries no result is an error, never an answer: deciding
// anything from it would end an attempt on a proxy's word.
func TestAnswersWithoutResult(t *testing.T) {
	for _, body := range []string{
		`<S:Envelope xmlns:S="http://schemas.xmlsoap.org/soap/envelope/"><S:Body/></S:Envelope>`,
		`<S:Envelope xmlns:S="http://schemas.xmlsoap.org/soap/envelope/"><S:Body><ns2:recupererDetailPaiementSecuriseResponse xmlns:ns2="` + payfip.Namespace + `"><return><resultrans></resultrans></return></ns2:recupererDetailPaiementSecuriseResponse></S:Body></S:Envelope>`,
		`<S:Envelope xmlns:S="http://schemas.xmlsoap.org/soap/envelope/"><S:Body><ns2:creerPaiementSecuriseResponse xmlns:ns2="` + payfip.Namespace + `"><return><idOp>cc0cb210-1cd4-11ea-8cca-0213ad91a103</idOp></return></ns2:creerPaiementSecuriseResponse></S:Body></S:Envelope>`,
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/xml")
			io.WriteString(w, body)
		}))
		c := payfip.New(srv.URL, nil)
		if d, err := c.PaymentDetails(context.Background(), "x"); err == nil {
			t.Errorf("PaymentDetails on %q = %+v, nil; want an error", body, d)
		}
		var f *payfip.Fault
		if _, err := c.PaymentDetails(context.Background(), "x"); errors.As(err, &f) {
			t.Errorf("a missing result came back as a fault: %v", err)
		}
		if info, err := c.ClientDetails(context.Background(), "001964"); err == nil {
			t.Errorf("ClientDetails on %q = %+v, nil; want an error", body, info)
		}
		srv.Close()
	}
}
