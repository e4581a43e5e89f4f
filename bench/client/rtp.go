package main

// Allocation-free RTP bookkeeping used on every received packet: loss from
// sequence numbers and detection of the first complete H.264 IDR access unit.

// seqWindow is how many recent extended sequence numbers are remembered to
// tell a late packet (previously counted lost) from a duplicate.
const seqWindow = 1024

// seqTracker counts lost packets from RTP sequence numbers. Sequence numbers
// are extended to 32 bits across wrap-arounds. A gap counts its missing
// packets as lost at once; a missing packet that arrives later (reordering)
// takes its loss back, so it is never counted twice, and duplicates are
// ignored.
type seqTracker struct {
	started bool
	first   uint32 // extended sequence number of the first packet
	max     uint32 // highest extended sequence number seen
	seen    [seqWindow / 64]uint64
}

func (s *seqTracker) mark(ext uint32, on bool) {
	i := ext % seqWindow
	if on {
		s.seen[i/64] |= 1 << (i % 64)
	} else {
		s.seen[i/64] &^= 1 << (i % 64)
	}
}

func (s *seqTracker) isSeen(ext uint32) bool {
	i := ext % seqWindow
	return s.seen[i/64]&(1<<(i%64)) != 0
}

// push records one packet and returns the change of the lost count: the
// number of packets skipped over, -1 for a late packet that had been counted
// lost, 0 otherwise.
func (s *seqTracker) push(seq uint16) int64 {
	if !s.started {
		s.started = true
		// Start one cycle up so that late packets never underflow.
		s.first = 1<<16 | uint32(seq)
		s.max = s.first
		s.mark(s.max, true)
		return 0
	}
	delta := int32(int16(seq - uint16(s.max)))
	if delta > 0 {
		skipped := delta - 1
		if skipped >= seqWindow {
			s.seen = [seqWindow / 64]uint64{}
		} else {
			for e := s.max + 1; e < s.max+uint32(delta); e++ {
				s.mark(e, false)
			}
		}
		s.max += uint32(delta)
		s.mark(s.max, true)
		return int64(skipped)
	}
	back := uint32(-delta)
	if back >= seqWindow || s.max-back < s.first {
		return 0 // too old to know, or from before the first packet
	}
	ext := s.max - back
	if s.isSeen(ext) {
		return 0 // duplicate
	}
	s.mark(ext, true)
	return -1
}

// H.264 NAL unit types (RFC 6184) that the detector looks at.
const (
	nalSlice = 1
	nalIDR   = 5
	nalSPS   = 7
	nalAUD   = 9
	nalSTAPA = 24
	nalFUA   = 28
)

// keyframeDetector finds the first complete IDR access unit in an H.264 RTP
// stream (packetization-mode 1). An access unit is complete when it started
// at a known access unit boundary, all its packets arrived in sequence and
// its last packet carries the marker bit. It holds an IDR when any packet
// carries a type 5 NAL unit: single, inside a STAP-A, or FU-A fragments.
type keyframeDetector struct {
	havePrev bool
	prevSeq  uint16
	clean    bool // the current access unit is whole so far
	idr      bool // the current access unit carries IDR slice data
}

// push feeds one packet (sequence number, marker bit, RTP payload) and
// returns true when this packet completes an IDR access unit.
func (k *keyframeDetector) push(seq uint16, marker bool, payload []byte) bool {
	if k.havePrev && seq != k.prevSeq+1 {
		k.clean = false // gap or reordering: this access unit is broken
	}
	k.havePrev = true
	k.prevSeq = seq
	if !k.clean && startsAccessUnit(payload) {
		k.clean = true
		k.idr = false
	}
	if hasIDR(payload) {
		k.idr = true
	}
	if !marker {
		return false
	}
	complete := k.clean && k.idr
	// The packet after a marker starts the next access unit.
	k.clean = true
	k.idr = false
	return complete
}

// startsSliceOrAU tells whether a NAL unit whose header byte is hdr and whose
// next byte is next begins an access unit: an access unit delimiter, an SPS,
// or the first slice of a picture (first_mb_in_slice is ue(v) 0, a single 1
// bit, when the byte after the NAL header starts with 1).
func startsSliceOrAU(hdr, next byte, haveNext bool) bool {
	switch hdr & 0x1f {
	case nalAUD, nalSPS:
		return true
	case nalSlice, nalIDR:
		return haveNext && next&0x80 != 0
	}
	return false
}

// startsAccessUnit tells whether an RTP payload begins a new access unit.
func startsAccessUnit(p []byte) bool {
	if len(p) < 1 {
		return false
	}
	switch p[0] & 0x1f {
	case nalSTAPA:
		// First aggregated NAL unit: 2 bytes size, then the NAL unit.
		return len(p) >= 4 && startsSliceOrAU(p[3], byteAt(p, 4), len(p) >= 5)
	case nalFUA:
		// FU indicator, FU header (S bit 0x80, original type), first byte.
		return len(p) >= 3 && p[1]&0x80 != 0 &&
			startsSliceOrAU(p[1], p[2], true)
	}
	return startsSliceOrAU(p[0], byteAt(p, 1), len(p) >= 2)
}

func byteAt(p []byte, i int) byte {
	if i < len(p) {
		return p[i]
	}
	return 0
}

// hasIDR tells whether an RTP payload carries (part of) an IDR slice.
func hasIDR(p []byte) bool {
	if len(p) < 1 {
		return false
	}
	switch p[0] & 0x1f {
	case nalIDR:
		return true
	case nalFUA:
		return len(p) >= 2 && p[1]&0x1f == nalIDR
	case nalSTAPA:
		for off := 1; off+2 < len(p); {
			size := int(p[off])<<8 | int(p[off+1])
			if size == 0 || off+2+size > len(p) {
				return false
			}
			if p[off+2]&0x1f == nalIDR {
				return true
			}
			off += 2 + size
		}
	}
	return false
}

// rtpPayload returns the payload of a raw RTP packet (after CSRCs, header
// extension and before padding), or nil when the packet is malformed.
func rtpPayload(b []byte) []byte {
	if len(b) < 12 || b[0]>>6 != 2 {
		return nil
	}
	off := 12 + 4*int(b[0]&0x0f)
	if b[0]&0x10 != 0 { // header extension
		if len(b) < off+4 {
			return nil
		}
		off += 4 + 4*(int(b[off+2])<<8|int(b[off+3]))
	}
	end := len(b)
	if b[0]&0x20 != 0 && end > 0 { // padding
		end -= int(b[end-1])
	}
	if off > end {
		return nil
	}
	return b[off:end]
}
