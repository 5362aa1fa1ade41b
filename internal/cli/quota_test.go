package cli

import (
	"encoding/json"
	"strings"
	"testing"
)

func quotaRows(t *testing.T, out string) []quotaRow {
	t.Helper()
	var rows []quotaRow
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("%v in %q", err, out)
	}
	return rows
}

// TestQuotaCommands: alter (and --validate-only, which changes nothing),
// describe with and without filters in table and JSON, --delete, and the
// broker's and the flags' refusals reported with a non-zero exit.
func TestQuotaCommands(t *testing.T) {
	addr := newHerald(t)
	ok(t, addr, "", "quota", "alter", "--client-id", "ingest", "--add", "producer_byte_rate=1048576", "--validate-only")
	if rows := quotaRows(t, ok(t, addr, "", "quota", "describe", "-o", "json").out); len(rows) != 0 {
		t.Fatalf("--validate-only stored %+v", rows)
	}
	out := ok(t, addr, "", "quota", "alter", "--client-id", "ingest", "--add", "producer_byte_rate=1048576").out
	if !strings.Contains(out, "{client-id=ingest}") || !strings.Contains(out, "altered") {
		t.Fatalf("alter output: %q", out)
	}
	ok(t, addr, "", "quota", "alter", "--user", "alice", "--default", "client-id", "--add", "consumer_byte_rate=2048,request_percentage=50")

	table := ok(t, addr, "", "quota", "describe").out
	for _, want := range []string{"ENTITY KEY VALUE", "{client-id=ingest} producer_byte_rate 1048576", "request_percentage 50"} {
		if !strings.Contains(strings.Join(strings.Fields(strings.ReplaceAll(table, "\n", " | ")), " "), want) {
			t.Errorf("describe table lacks %q:\n%s", want, table)
		}
	}
	rows := quotaRows(t, ok(t, addr, "", "quota", "describe", "--user", "alice", "-o", "json").out)
	if len(rows) != 1 || rows[0].Entity["client-id"] != nil || *rows[0].Entity["user"] != "alice" || rows[0].Values["consumer_byte_rate"] != 2048 {
		t.Fatalf("describe --user alice: %+v", rows)
	}
	if rows := quotaRows(t, ok(t, addr, "", "quota", "describe", "--user", "alice", "--strict", "-o", "json").out); len(rows) != 0 {
		t.Fatalf("--strict kept an entity with a client id: %+v", rows)
	}
	if rows := quotaRows(t, ok(t, addr, "", "quota", "describe", "--default", "client-id", "-o", "json").out); len(rows) != 1 {
		t.Fatalf("--default client-id: %+v", rows)
	}

	ok(t, addr, "", "quota", "alter", "--client-id", "ingest", "--delete", "producer_byte_rate")
	if rows := quotaRows(t, ok(t, addr, "", "quota", "describe", "--any", "client-id", "-o", "json").out); len(rows) != 0 {
		t.Fatalf("after --delete: %+v", rows)
	}

	ok(t, addr, "", "quota", "alter", "--ip", "10.1.2.3", "--add", "connection_creation_rate=5")
	if rows := quotaRows(t, ok(t, addr, "", "quota", "describe", "--any", "ip", "-o", "json").out); len(rows) != 1 || rows[0].Values["connection_creation_rate"] != 5 {
		t.Fatalf("--ip: %+v", rows)
	}
	fails(t, addr, "", "unknown quota key", "quota", "alter", "--user", "bob", "--add", "bogus=1")
	fails(t, addr, "", "want key=number", "quota", "alter", "--user", "bob", "--add", "producer_byte_rate")
	fails(t, addr, "", "needs an entity", "quota", "alter", "--add", "producer_byte_rate=1")
	fails(t, addr, "", "given twice", "quota", "describe", "--user", "a", "--default", "user")
}
