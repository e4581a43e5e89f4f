package main

import "testing"

// lostAfter feeds sequence numbers and returns the resulting lost count.
func lostAfter(seqs ...uint16) int64 {
	var s seqTracker
	var lost int64
	for _, q := range seqs {
		lost += s.push(q)
	}
	return lost
}

func TestSeqTrackerLoss(t *testing.T) {
	cases := []struct {
		name string
		seqs []uint16
		want int64
	}{
		{"in order", []uint16{1, 2, 3, 4}, 0},
		{"gap", []uint16{1, 2, 5, 6}, 2},
		{"late packet takes its loss back", []uint16{1, 3, 2, 4}, 0},
		{"duplicate counts nothing", []uint16{1, 2, 2, 3}, 0},
		{"late then duplicate", []uint16{1, 3, 2, 2, 4}, 0},
		{"wrap-around", []uint16{65534, 65535, 0, 1}, 0},
		{"gap across wrap", []uint16{65534, 1}, 2},
		{"older than first packet", []uint16{10, 9, 11}, 0},
		{"big gap", []uint16{1, 3001, 3002}, 2999},
	}
	for _, c := range cases {
		if got := lostAfter(c.seqs...); got != c.want {
			t.Errorf("%s: lost %d, want %d", c.name, got, c.want)
		}
	}
}

// Payloads: STAP-A with SPS+PPS, FU-A start/middle/end of an IDR slice whose
// first_mb_in_slice is 0, a P slice.
var (
	stapSPSPPS = []byte{24, 0, 2, 0x67, 0x42, 0, 2, 0x68, 0xce}
	fuStartIDR = []byte{0x7c, 0x85, 0x88, 1}
	fuMidIDR   = []byte{0x7c, 0x05, 2, 3}
	fuEndIDR   = []byte{0x7c, 0x45, 4, 5}
	pSlice     = []byte{0x41, 0x9a, 1}
	idrSingle  = []byte{0x65, 0x88, 1}
)

type pkt struct {
	seq    uint16
	marker bool
	p      []byte
}

// firstKeyframe returns the index of the packet completing the first IDR
// access unit, or -1.
func firstKeyframe(pkts []pkt) int {
	var k keyframeDetector
	for i, x := range pkts {
		if k.push(x.seq, x.marker, x.p) {
			return i
		}
	}
	return -1
}

func TestKeyframeDetector(t *testing.T) {
	cases := []struct {
		name string
		pkts []pkt
		want int
	}{
		{"STAP-A then FU-A IDR", []pkt{{10, false, stapSPSPPS}, {11, false, fuStartIDR},
			{12, false, fuMidIDR}, {13, true, fuEndIDR}}, 3},
		{"single NAL IDR", []pkt{{5, true, idrSingle}}, 0},
		{"gap inside the IDR waits for the next one", []pkt{{10, false, stapSPSPPS},
			{11, false, fuStartIDR}, {13, true, fuEndIDR}, {14, true, pSlice},
			{15, false, fuStartIDR}, {16, true, fuEndIDR}}, 5},
		{"joined in the middle of an IDR", []pkt{{12, false, fuMidIDR}, {13, true, fuEndIDR},
			{14, true, pSlice}, {15, true, idrSingle}}, 3},
		{"P frames only", []pkt{{1, true, pSlice}, {2, true, pSlice}}, -1},
		{"reordered IDR fragments", []pkt{{11, false, fuStartIDR}, {13, true, fuEndIDR},
			{12, false, fuMidIDR}}, -1},
	}
	for _, c := range cases {
		if got := firstKeyframe(c.pkts); got != c.want {
			t.Errorf("%s: keyframe at %d, want %d", c.name, got, c.want)
		}
	}
}

func TestRTPPayload(t *testing.T) {
	// Version 2, one CSRC, a one-word header extension, 2 padding bytes.
	b := []byte{0xb1, 0x60, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, // header
		0, 0, 0, 9, // CSRC
		0xbe, 0xde, 0, 1, 1, 2, 3, 4, // extension
		0x65, 0x88, 0, 2} // payload + 2 padding
	p := rtpPayload(b)
	if len(p) != 2 || p[0] != 0x65 || p[1] != 0x88 {
		t.Fatalf("payload %x", p)
	}
	if rtpPayload(b[:10]) != nil || rtpPayload([]byte{0x90, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}) != nil {
		t.Fatal("malformed packets must give nil")
	}
}
