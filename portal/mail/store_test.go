package mail_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/regie/regie/migrations/dbtest"
	"github.com/regie/regie/portal/mail"
	"github.com/regie/regie/tenant"
	"github.com/regie/regie/tenant/tenanttest"
)

func sample(to string) mail.Mail {
	return mail.Mail{Kind: "activation", To: to, FromName: "Mairie de Test", ReplyTo: "mairie@test.example.fr",
		Subject: "Sujet", Text: "Bonjour", HTML: "<p>Bonjour</p>"}
}

// queue stores a mail and its job in one transaction of commune tid.
func queue(t *testing.T, h *harness, tid tenant.ID, m mail.Mail) (int64, bool) {
	t.Helper()
	var id int64
	var queued bool
	inTx(t, h.db, tid, func(tx *sqlx.Tx) error {
		var err error
		id, queued, err = mail.Queue(context.Background(), tx, h.jobs, tid, m)
		return err
	})
	return id, queued
}

func TestQueue(t *testing.T) {
	ctx := context.Background()
	h := sharedHarness(t)
	c := tenanttest.MustCreate(t, h.db, "queue")

	t.Run("OK", func(t *testing.T) {
		in := sample("Queue.OK@Exemple.FR")
		id, queued := queue(t, h, c.ID, in)
		if !queued || id == 0 {
			t.Fatalf("Queue = %d, %v; want a new mail", id, queued)
		}
		m := mustGet(t, h.db, c.ID, id)
		if m.To != "queue.ok@exemple.fr" {
			t.Errorf("To = %q, want the address lower-cased", m.To)
		}
		if m.TenantID != c.ID || m.Kind != in.Kind || m.FromName != in.FromName || m.ReplyTo != in.ReplyTo ||
			m.Subject != in.Subject || m.Text != in.Text || m.HTML != in.HTML || m.DedupKey != nil {
			t.Errorf("stored %+v, want the fields of %+v", m, in)
		}
		if jobs := sendJobs(t, h.db, c.ID, id); len(jobs) != 1 {
			t.Errorf("send jobs: %v, want one", jobs)
		}
	})

	t.Run("DedupKey", func(t *testing.T) {
		in := sample("dedup@exemple.fr")
		key := fmt.Sprintf("activation:%d:dedup@exemple.fr", c.ID)
		in.DedupKey = &key
		id, queued := queue(t, h, c.ID, in)
		if !queued {
			t.Fatal("first Queue with the key was skipped")
		}
		id2, queued2 := queue(t, h, c.ID, in)
		if queued2 || id2 != 0 {
			t.Fatalf("second Queue with the same key = %d, %v; want 0, false", id2, queued2)
		}
		var n int
		if err := h.db.Get(&n, `SELECT count(*) FROM mails WHERE tenant_id = $1 AND dedup_key = $2`, c.ID, key); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("mails with the key: %d, want 1", n)
		}
		if jobs := sendJobs(t, h.db, c.ID, id); len(jobs) != 1 {
			t.Errorf("send jobs of the mail: %v, want one", jobs)
		}
		// Nor did the skipped Queue insert a job of its own (for mail 0).
		var all int
		if err := h.db.Get(&all, `SELECT count(*) FROM river_job WHERE kind = 'mail.send' AND (args->>'tenant_id')::bigint = $1
			AND EXISTS (SELECT 1 FROM jsonb_array_elements_text(args->'mail_ids') AS j(id)
				WHERE j.id::bigint NOT IN (SELECT id FROM mails WHERE tenant_id = $1))`, c.ID); err != nil {
			t.Fatal(err)
		}
		if all != 0 {
			t.Errorf("%d send jobs of the commune point at no mail", all)
		}
	})

	t.Run("SameDedupKeyInTwoCommunes", func(t *testing.T) {
		other := tenanttest.MustCreate(t, h.db, "queue-other")
		key := "partagee"
		in := sample("partage@exemple.fr")
		in.DedupKey = &key
		if _, queued := queue(t, h, c.ID, in); !queued {
			t.Fatal("first commune's mail skipped")
		}
		if _, queued := queue(t, h, other.ID, in); !queued {
			t.Fatal("second commune's mail skipped because of the first commune's key")
		}
	})

	t.Run("NoDedupKey", func(t *testing.T) {
		in := sample("deux.fois@exemple.fr")
		id1, q1 := queue(t, h, c.ID, in)
		id2, q2 := queue(t, h, c.ID, in)
		if !q1 || !q2 || id1 == id2 {
			t.Fatalf("two Queue without a key = (%d, %v), (%d, %v); want two mails", id1, q1, id2, q2)
		}
	})

	t.Run("RollbackDropsMailAndJob", func(t *testing.T) {
		key := "rollback"
		in := sample("rollback@exemple.fr")
		in.DedupKey = &key
		var id int64
		boom := errors.New("the change that caused the mail failed")
		err := tenant.WithTx(ctx, h.db, c.ID, func(tx *sqlx.Tx) error {
			var err error
			if id, _, err = mail.Queue(ctx, tx, h.jobs, c.ID, in); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("WithTx: %v", err)
		}
		var n int
		if err := h.db.Get(&n, `SELECT count(*) FROM mails WHERE tenant_id = $1 AND dedup_key = $2`, c.ID, key); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("%d mails survived the rollback", n)
		}
		if jobs := sendJobs(t, h.db, c.ID, id); len(jobs) != 0 {
			t.Errorf("send jobs survived the rollback: %v", jobs)
		}
	})
}

// TestQueueBulk: a publication's mails are stored in one go, skip those
// already stored, and their jobs come after a family's link mails.
func TestQueueBulk(t *testing.T) {
	ctx := context.Background()
	h := sharedHarness(t)
	c := tenanttest.MustCreate(t, h.db, "queue-bulk")
	key := func(k string) *string { return &k }
	first, second, third := sample("Bulk.Un@Exemple.fr"), sample("bulk.deux@exemple.fr"), sample("bulk.trois@exemple.fr")
	first.DedupKey, second.DedupKey = key("bulk:1"), key("bulk:2") // the third has none
	var ids []int64
	inTx(t, h.db, c.ID, func(tx *sqlx.Tx) error {
		var err error
		ids, err = mail.QueueBulk(ctx, tx, h.jobs, c.ID, []mail.Mail{first, second, third})
		return err
	})
	if len(ids) != 3 {
		t.Fatalf("QueueBulk queued %d mails, want 3", len(ids))
	}
	if m := mustGet(t, h.db, c.ID, ids[0]); m.To != "bulk.un@exemple.fr" || m.DedupKey == nil || *m.DedupKey != "bulk:1" || m.Subject != first.Subject {
		t.Errorf("first mail stored as %+v", m)
	}
	if m := mustGet(t, h.db, c.ID, ids[2]); m.DedupKey != nil {
		t.Errorf("third mail has the dedup key %q, want none", *m.DedupKey)
	}
	// again with the second and a new one: only the new one is queued
	fourth := sample("bulk.quatre@exemple.fr")
	fourth.DedupKey = key("bulk:4")
	var again []int64
	inTx(t, h.db, c.ID, func(tx *sqlx.Tx) error {
		var err error
		again, err = mail.QueueBulk(ctx, tx, h.jobs, c.ID, []mail.Mail{second, fourth})
		return err
	})
	if len(again) != 1 || mustGet(t, h.db, c.ID, again[0]).To != "bulk.quatre@exemple.fr" {
		t.Fatalf("second QueueBulk queued %v, want only the fourth mail", again)
	}
	link, _ := queue(t, h, c.ID, sample("lien@exemple.fr"))
	priority := func(id int64) int {
		var p int
		if err := h.db.Get(&p, `SELECT priority FROM river_job WHERE kind = 'mail.send' AND (args->>'tenant_id')::bigint = $1
			AND args->'mail_ids' @> to_jsonb($2::bigint)`, c.ID, id); err != nil {
			t.Fatalf("job of mail %d: %v", id, err)
		}
		return p
	}
	if b, l := priority(ids[0]), priority(link); b <= l {
		t.Errorf("priority of a bulk mail's job %d, of a link mail's %d: want the bulk one worked after", b, l)
	}
}

func TestGetMany(t *testing.T) {
	ctx := context.Background()
	h := sharedHarness(t)
	a := tenanttest.MustCreate(t, h.db, "get-a")
	b := tenanttest.MustCreate(t, h.db, "get-b")
	id, _ := queue(t, h, a.ID, sample("get@exemple.fr"))
	id2, _ := queue(t, h, a.ID, sample("get2@exemple.fr"))

	t.Run("OK", func(t *testing.T) {
		inTx(t, h.db, a.ID, func(tx *sqlx.Tx) error {
			ms, err := mail.GetMany(ctx, tx, a.ID, []int64{id2, id + 1_000_000, id})
			if err != nil || len(ms) != 2 || ms[0].ID != id || ms[0].To != "get@exemple.fr" || ms[1].ID != id2 {
				t.Errorf("GetMany = %+v, %v; want mails %d and %d in order, the unknown id left out", ms, err, id, id2)
			}
			return nil
		})
	})

	t.Run("OtherCommune", func(t *testing.T) {
		for _, tid := range []tenant.ID{b.ID, a.ID} {
			inTx(t, h.db, b.ID, func(tx *sqlx.Tx) error {
				if ms, err := mail.GetMany(ctx, tx, tid, []int64{id}); err != nil || len(ms) != 0 {
					t.Errorf("B's transaction, commune %d: GetMany of A's mail = %+v, %v; want none", tid, ms, err)
				}
				return nil
			})
		}
	})
}

func TestToAddresses(t *testing.T) {
	ctx := context.Background()
	db := dbtest.DB(t)
	h := sharedHarness(t)
	a := tenanttest.MustCreate(t, db, "toaddr-a")
	b := tenanttest.MustCreate(t, db, "toaddr-b")
	first, _ := queue(t, h, a.ID, sample("un@exemple.fr"))
	second, _ := queue(t, h, a.ID, sample("deux@exemple.fr"))
	third, _ := queue(t, h, a.ID, sample("un@exemple.fr"))
	queue(t, h, a.ID, sample("autre@exemple.fr"))
	queue(t, h, b.ID, sample("un@exemple.fr"))

	ids := func(ms []mail.Mail) []int64 {
		out := []int64{}
		for _, m := range ms {
			out = append(out, m.ID)
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		addrs []string
		limit int
		want  []int64
	}{
		{"OneAddress", []string{"un@exemple.fr"}, 10, []int64{third, first}},
		{"TwoAddresses", []string{"un@exemple.fr", "deux@exemple.fr"}, 10, []int64{third, second, first}},
		{"Limit", []string{"un@exemple.fr", "deux@exemple.fr"}, 2, []int64{third, second}},
		{"Unknown", []string{"personne@exemple.fr"}, 10, []int64{}},
		{"None", nil, 10, []int64{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inTx(t, db, a.ID, func(tx *sqlx.Tx) error {
				ms, err := mail.ToAddresses(ctx, tx, a.ID, tc.addrs, tc.limit)
				if err != nil {
					return err
				}
				if got := ids(ms); fmt.Sprint(got) != fmt.Sprint(tc.want) {
					t.Errorf("ToAddresses(%v, %d) = %v, want %v", tc.addrs, tc.limit, got, tc.want)
				}
				return nil
			})
		})
	}
}
