package record_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// visitPV1 is the PV1 of visit VN900301: its class, current (PV1-3) and
// prior (PV1-6) ward, admit time (PV1-44) and discharge time (PV1-45, with
// disposition 01), as YYYYMMDDHHMM ("" leaves a field empty, `""` clears).
func visitPV1(current, prior, admitted, discharged string) string {
	f := make([]string, 46)
	f[0], f[1], f[2], f[19] = "PV1", "1", "I", "VN900301^^^GENHOSP^VN"
	if current != "" {
		f[3] = current + "^1^A^GENHOSP"
	}
	if prior != "" {
		f[6] = prior + "^1^A^GENHOSP"
	}
	f[44] = admitted + "00+0000"
	switch discharged {
	case "":
	case `""`:
		f[36], f[45] = `""`, `""`
	default:
		f[36], f[45] = "01", discharged+"00+0000"
	}
	return strings.Join(f, "|")
}

const visitPID = "PID|1||MRN900301^^^GENHOSP^MR||Hollis^Greta^^^^^L||19800101|F"

// visitState is the visit's status and its locations as "WARD status
// start..end".
func (c *chains) visitState() (string, []string) {
	c.t.Helper()
	encs := c.all("Encounter")
	if len(encs) != 1 {
		c.t.Fatalf("%d visits, want 1", len(encs))
	}
	ward := map[string]string{}
	for _, l := range c.all("Location") {
		ward["Location/"+fmt.Sprint(l["id"])], _, _ = strings.Cut(fmt.Sprint(l["name"]), " ")
	}
	var locs []string
	for _, l := range list(encs[0]["location"]) {
		x := l.(map[string]any)
		p, _ := x["period"].(map[string]any)
		locs = append(locs, fmt.Sprintf("%s %s %v..%v", ward[fmt.Sprint(x["location"].(map[string]any)["reference"])], x["status"], p["start"], p["end"]))
	}
	return fmt.Sprint(encs[0]["status"]), locs
}

// TestDischargeEndsEveryStay: the discharge (A03) names the ward the
// patient left; the transfer there has not arrived, so the record still
// has the admission's ward active. The visit is over: no bed stays taken.
func TestDischargeEndsEveryStay(t *testing.T) {
	c := newChains(t)
	c.msg("ADT^A01 DS-A01 202604060800", visitPID, visitPV1("WARD1", "", "202604060800", ""))
	c.msg("ADT^A03 DS-A03 202604061800", visitPID, visitPV1("WARD2", "", "202604060800", "202604061800"))
	status, locs := c.visitState()
	want := []string{"WARD1 completed 2026-04-06T08:00:00Z..2026-04-06T18:00:00Z", "WARD2 completed <nil>..<nil>"}
	if status != "finished" || !slices.Equal(locs, want) {
		t.Errorf("status %s, locations %v; want finished, %v", status, locs, want)
	}
}

// TestUpdateAfterDischargeKeepsBedFree: an update (A08) after the
// discharge repeats the ward in PV1-3, which maps to an active location;
// the visit is finished, so the stay stays ended when the discharge ended
// it.
func TestUpdateAfterDischargeKeepsBedFree(t *testing.T) {
	c := newChains(t)
	c.msg("ADT^A01 UD-A01 202604060800", visitPID, visitPV1("WARD1", "", "202604060800", ""))
	c.msg("ADT^A03 UD-A03 202604061800", visitPID, visitPV1("WARD1", "", "202604060800", "202604061800"))
	c.msg("ADT^A08 UD-A08 202604062000", visitPID, visitPV1("WARD1", "", "202604060800", "202604061800"))
	status, locs := c.visitState()
	want := []string{"WARD1 completed 2026-04-06T08:00:00Z..2026-04-06T18:00:00Z"}
	if status != "finished" || !slices.Equal(locs, want) {
		t.Errorf("status %s, locations %v; want finished, %v", status, locs, want)
	}
}

// TestCancelOfDischargeSaysWhereThePatientIs: the transfer to WARD2 (A02
// of 12:00) arrives last; the cancel of the discharge (A13) undoes the
// discharge, which the record had on WARD1 still active, but the A13 says
// the patient is in WARD2: that holds, the transfer's location is not
// lost.
func TestCancelOfDischargeSaysWhereThePatientIs(t *testing.T) {
	c := newChains(t)
	c.msg("ADT^A01 CD-A01 202604060800", visitPID, visitPV1("WARD1", "", "202604060800", ""))
	c.msg("ADT^A03 CD-A03 202604061800", visitPID, visitPV1("WARD2", "", "202604060800", "202604061800"))
	c.msg("ADT^A13 CD-A13 202604062000", visitPID, visitPV1("WARD2", "", "202604060800", `""`))
	c.msg("ADT^A02 CD-A02 202604061200", visitPID, visitPV1("WARD2", "WARD1", "202604060800", ""))
	status, locs := c.visitState()
	var active []string
	for _, l := range locs {
		if f := strings.Fields(l); f[1] == "active" {
			active = append(active, f[0])
		}
	}
	if status != "in-progress" || !slices.Equal(active, []string{"WARD2"}) {
		t.Errorf("status %s, locations %v; want in-progress with WARD2 the one active", status, locs)
	}
}

// TestCancelOfTransferKeepsItsStatus: the discharge (A03) came first, the
// cancel of the discharge (A13) has not arrived; a transfer (A02) and its
// cancel (A12) follow. Undoing the transfer must not take the visit back
// to finished: the A12 says it is in progress, in WARD1.
func TestCancelOfTransferKeepsItsStatus(t *testing.T) {
	c := newChains(t)
	c.msg("ADT^A03 CT-A03 202604061200", visitPID, visitPV1("WARD1", "", "202604060800", "202604061200"))
	c.msg("ADT^A02 CT-A02 202604061600", visitPID, visitPV1("WARD2", "WARD1", "202604060800", ""))
	c.msg("ADT^A12 CT-A12 202604061700", visitPID, visitPV1("WARD1", "WARD2", "202604060800", ""))
	status, locs := c.visitState()
	var active []string
	for _, l := range locs {
		if f := strings.Fields(l); f[1] == "active" {
			active = append(active, f[0])
		}
	}
	if status != "in-progress" || !slices.Equal(active, []string{"WARD1"}) {
		t.Errorf("status %s, locations %v; want in-progress with WARD1 the one active", status, locs)
	}
}

// TestNewerCancelAfterEarlierCancel: two discharges, each cancelled. The
// first cancel (A13 of 14:00) arrives first and makes the visit; the
// second (A13 of 20:00) finds it and must not take it for itself applied
// already: it is applied (as an update: its discharge has not arrived), so
// that the second discharge (A03 of 18:00), arriving last, is older than
// the visit and does not finish it.
func TestNewerCancelAfterEarlierCancel(t *testing.T) {
	c := newChains(t)
	c.msg("ADT^A13 NC-A13a 202604061400", visitPID, visitPV1("WARD1", "", "202604060800", `""`))
	out := c.msg("ADT^A13 NC-A13b 202604062000", visitPID, visitPV1("WARD1", "", "202604060800", `""`))
	if notes := fmt.Sprint(out.Notes); strings.Contains(notes, "already cancelled") {
		t.Errorf("the second cancel was taken for the first again: %s", notes)
	}
	c.msg("ADT^A03 NC-A03b 202604061800", visitPID, visitPV1("WARD1", "", "202604060800", "202604061800"))
	if status, locs := c.visitState(); status != "in-progress" {
		t.Errorf("status %s (locations %v), want in-progress: the newest message, the second cancel, says so", status, locs)
	}
}

// TestCancelOfTransferUndoesOnlyItsTransfer: the cancel (A12 of 14:00)
// of the second transfer (WARD2 → WARD3, 12:00) arrives before that
// transfer. The record's latest transfer is the first (WARD1 → WARD2),
// which the A12 does not cancel (it names WARD3 as the transfer's ward):
// it finds no transfer of its own to undo and is applied as an update, so
// the first transfer's stay in WARD2 keeps its start.
func TestCancelOfTransferUndoesOnlyItsTransfer(t *testing.T) {
	c := newChains(t)
	c.msg("ADT^A01 CX-A01 202604060800", visitPID, visitPV1("WARD1", "", "202604060800", ""))
	c.msg("ADT^A02 CX-A02a 202604061000", visitPID, visitPV1("WARD2", "WARD1", "202604060800", ""))
	out := c.msg("ADT^A12 CX-A12 202604061400", visitPID, visitPV1("WARD2", "WARD3", "202604060800", ""))
	if notes := fmt.Sprint(out.Notes); !strings.Contains(notes, "found no A02") {
		t.Errorf("the cancel undid a transfer it does not cancel: %s", notes)
	}
	c.msg("ADT^A02 CX-A02b 202604061200", visitPID, visitPV1("WARD3", "WARD2", "202604060800", ""))
	status, locs := c.visitState()
	if status != "in-progress" || len(locs) < 2 || locs[0] != "WARD1 completed 2026-04-06T08:00:00Z..2026-04-06T10:00:00Z" || locs[1] != "WARD2 active 2026-04-06T10:00:00Z..<nil>" {
		t.Errorf("status %s, locations %v; want WARD1 until the first transfer and WARD2 active since", status, locs)
	}
}
