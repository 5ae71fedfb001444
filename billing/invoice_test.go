package billing_test

import (
	"testing"
	"time"

	"github.com/regie/regie/billing"
)

func TestInvoice_Accessors(t *testing.T) {
	var draft billing.Invoice
	draft.Period = date(2025, 12, 1)
	if draft.Ref() != "" || draft.RefdetOrEmpty() != "" || draft.Exer() != 2025 {
		t.Errorf("draft: Ref %q, RefdetOrEmpty %q, Exer %d; want empty, empty, 2025", draft.Ref(), draft.RefdetOrEmpty(), draft.Exer())
	}
	numbered := billing.Invoice{Period: date(2015, 10, 1), Reference: ptr("2015-RS-00-8001516"), Refdet: ptr("2015RS008001516")}
	if numbered.Ref() != "2015-RS-00-8001516" || numbered.RefdetOrEmpty() != "2015RS008001516" || numbered.Exer() != 2015 {
		t.Errorf("numbered: Ref %q, RefdetOrEmpty %q, Exer %d", numbered.Ref(), numbered.RefdetOrEmpty(), numbered.Exer())
	}
}

func TestInvoice_Overdue(t *testing.T) {
	due := date(2026, 11, 15)
	for _, tc := range []struct {
		status billing.InvoiceStatus
		today  time.Time
		want   bool
	}{
		{billing.Published, date(2026, 11, 14), false},
		{billing.Published, due, false},
		{billing.Published, date(2026, 11, 16), true},
		{billing.Paid, date(2026, 12, 1), false},
		{billing.Cancelled, date(2026, 12, 1), false},
		{billing.Draft, date(2026, 12, 1), false},
	} {
		inv := billing.Invoice{Status: tc.status, DueDate: due}
		if got := inv.Overdue(tc.today); got != tc.want {
			t.Errorf("%s invoice due %s, on %s: Overdue = %v, want %v", tc.status, due.Format(time.DateOnly), tc.today.Format(time.DateOnly), got, tc.want)
		}
	}
}

func TestToday(t *testing.T) {
	for _, tc := range []struct {
		now  time.Time
		want time.Time
	}{
		{time.Date(2026, 10, 31, 22, 59, 0, 0, time.UTC), date(2026, 10, 31)}, // 23:59 in Paris (CET)
		{time.Date(2026, 10, 31, 23, 0, 0, 0, time.UTC), date(2026, 11, 1)},   // midnight in Paris
		{time.Date(2026, 7, 14, 21, 59, 0, 0, time.UTC), date(2026, 7, 14)},   // 23:59 CEST
		{time.Date(2026, 7, 14, 22, 0, 0, 0, time.UTC), date(2026, 7, 15)},
		{time.Date(2026, 1, 1, 0, 30, 0, 0, time.FixedZone("UTC+1", 3600)), date(2026, 1, 1)},
	} {
		got := billing.Today(tc.now)
		if !got.Equal(tc.want) || got.Location() != time.UTC {
			t.Errorf("Today(%v) = %v, want %v (UTC midnight)", tc.now, got, tc.want)
		}
	}
}

func TestPeriodLabel(t *testing.T) {
	for _, tc := range []struct {
		period time.Time
		want   string
	}{
		{date(2026, 1, 1), "janvier 2026"},
		{date(2026, 2, 1), "février 2026"},
		{date(2026, 8, 1), "août 2026"},
		{date(2026, 10, 1), "octobre 2026"},
		{date(2025, 12, 1), "décembre 2025"},
	} {
		if got := billing.PeriodLabel(tc.period); got != tc.want {
			t.Errorf("PeriodLabel(%v) = %q, want %q", tc.period, got, tc.want)
		}
	}
}
