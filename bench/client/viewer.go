package main

// One receive-only WHEP viewer: its PeerConnection, its signalling and the
// read loops that count what it receives.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v3"
)

// viewer holds one session's state. Counters are atomics: the read loops
// write them, the stats loop reads them.
type viewer struct {
	id  int
	cl  *client
	t0  time.Time // when the offer POST was sent
	pc  atomic.Pointer[webrtc.PeerConnection]
	loc string // session URL from the Location header ("" until known)

	// Milestones in nanoseconds after t0, -1 until reached.
	answerNs, iceNs, dtlsNs, firstRTPNs, firstKFNs atomic.Int64
	localPort                                      atomic.Int32

	videoPkts, audioPkts, videoBytes, audioBytes, frames atomic.Uint64
	lost                                                 atomic.Int64
	connected                                            atomic.Bool
	decided                                              atomic.Bool // viewer event sent
}

func newViewer(id int, cl *client) *viewer {
	v := &viewer{id: id, cl: cl}
	for _, m := range []*atomic.Int64{&v.answerNs, &v.iceNs, &v.dtlsNs, &v.firstRTPNs, &v.firstKFNs} {
		m.Store(-1)
	}
	return v
}

// stamp records a milestone once, relative to the POST.
func (v *viewer) stamp(m *atomic.Int64) {
	m.CompareAndSwap(-1, int64(time.Since(v.t0)))
}

// finish sends this viewer's one "viewer" event: ready when errText is empty.
func (v *viewer) finish(errText string) {
	if !v.decided.CompareAndSwap(false, true) {
		return
	}
	ms := func(m *atomic.Int64) float64 {
		n := m.Load()
		if n < 0 {
			return -1
		}
		return float64(n/100000) / 10 // ms with one decimal
	}
	v.cl.emit(viewerEvent{
		Event: "viewer", ID: v.id, Ready: errText == "",
		AnswerMs: ms(&v.answerNs), IceMs: ms(&v.iceNs), DtlsMs: ms(&v.dtlsNs),
		FirstRTPMs: ms(&v.firstRTPNs), FirstKFMs: ms(&v.firstKFNs),
		LocalPort: int(v.localPort.Load()), Error: errText,
	})
	v.cl.outcomes <- errText == ""
}

// run sets up the PeerConnection, gathers every candidate, POSTs the offer
// and applies the answer. Media then flows to the OnTrack read loops.
func (v *viewer) run() {
	if err := v.join(); err != nil {
		v.finish(err.Error())
	}
}

func (v *viewer) join() error {
	pc, err := v.cl.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return fmt.Errorf("new peer connection: %w", err)
	}
	v.pc.Store(pc)
	recvonly := webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}
	if _, err = pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, recvonly); err != nil {
		return fmt.Errorf("add video transceiver: %w", err)
	}
	if v.cl.audio {
		if _, err = pc.AddTransceiverFromKind(webrtc.RTPCodecTypeAudio, recvonly); err != nil {
			return fmt.Errorf("add audio transceiver: %w", err)
		}
	}
	pc.OnICEConnectionStateChange(func(s webrtc.ICEConnectionState) {
		if s == webrtc.ICEConnectionStateConnected {
			v.stamp(&v.iceNs)
		}
	})
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		switch s {
		case webrtc.PeerConnectionStateConnected:
			v.stamp(&v.dtlsNs)
			v.connected.Store(true)
			// The selected pair tells which local UDP port this viewer uses.
			if p, err := pc.SCTP().Transport().ICETransport().GetSelectedCandidatePair(); err == nil && p != nil {
				v.localPort.Store(int32(p.Local.Port))
			}
		case webrtc.PeerConnectionStateFailed:
			v.connected.Store(false)
			v.finish("connection failed")
		case webrtc.PeerConnectionStateDisconnected, webrtc.PeerConnectionStateClosed:
			v.connected.Store(false)
		}
	})
	pc.OnTrack(func(t *webrtc.TrackRemote, r *webrtc.RTPReceiver) {
		go drainRTCP(r)
		if t.Kind() == webrtc.RTPCodecTypeVideo {
			v.readVideo(t)
		} else {
			v.readAudio(t)
		}
	})

	// Complete gathering before the POST: the offer carries every candidate.
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return fmt.Errorf("create offer: %w", err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err = pc.SetLocalDescription(offer); err != nil {
		return fmt.Errorf("set local description: %w", err)
	}
	select {
	case <-gathered:
	case <-time.After(10 * time.Second):
		return fmt.Errorf("ICE gathering did not complete in 10 s")
	}

	v.t0 = time.Now()
	answer, loc, err := v.post(pc.LocalDescription().SDP)
	if err != nil {
		return err
	}
	v.stamp(&v.answerNs)
	if !v.cl.addSession(v, loc) {
		return fmt.Errorf("stopped during setup")
	}
	err = pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer})
	if err != nil {
		return fmt.Errorf("set remote description: %w", err)
	}
	return nil
}

// post sends the offer and returns the answer and the absolute session URL.
func (v *viewer) post(offer string) (answer, location string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, v.cl.url.String(), strings.NewReader(offer))
	if err != nil {
		return "", "", err
	}
	req.Header.Set("Content-Type", "application/sdp")
	v.cl.authorize(req)
	resp, err := v.cl.http.Do(req)
	if err != nil {
		return "", "", fmt.Errorf("POST: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", "", fmt.Errorf("POST: reading answer: %w", err)
	}
	if resp.StatusCode != http.StatusCreated {
		text := strings.TrimSpace(string(bytes.ToValidUTF8(body, nil)))
		if len(text) > 200 {
			text = text[:200]
		}
		return "", "", fmt.Errorf("HTTP %d: %s", resp.StatusCode, text)
	}
	rel := resp.Header.Get("Location")
	if rel == "" {
		return "", "", fmt.Errorf("HTTP 201 without Location")
	}
	u, err := url.Parse(rel)
	if err != nil {
		return "", "", fmt.Errorf("bad Location %q: %w", rel, err)
	}
	return string(body), v.cl.url.ResolveReference(u).String(), nil
}

// drainRTCP reads the receiver's RTCP so pion's buffers never fill up; the
// receiver report interceptor sees the sender reports on the way.
func drainRTCP(r *webrtc.RTPReceiver) {
	buf := make([]byte, 1500)
	for {
		if _, _, err := r.Read(buf); err != nil {
			return
		}
	}
}

// readVideo counts video packets, bytes, frames (marker bits) and loss, and
// looks for the first complete IDR access unit. One buffer for the whole
// track: no allocation per packet.
func (v *viewer) readVideo(t *webrtc.TrackRemote) {
	var seq seqTracker
	var kf keyframeDetector
	kfDone, gotRTP := false, false
	buf := make([]byte, 1500)
	for {
		n, _, err := t.Read(buf)
		if err != nil {
			return
		}
		if n < 12 {
			continue
		}
		p := buf[:n]
		if !gotRTP {
			gotRTP = true
			v.stamp(&v.firstRTPNs)
		}
		v.videoPkts.Add(1)
		v.videoBytes.Add(uint64(n))
		sn := uint16(p[2])<<8 | uint16(p[3])
		marker := p[1]&0x80 != 0
		if d := seq.push(sn); d != 0 {
			v.lost.Add(d)
		}
		if marker {
			v.frames.Add(1)
		}
		if !kfDone && kf.push(sn, marker, rtpPayload(p)) {
			kfDone = true
			v.stamp(&v.firstKFNs)
			v.finish("")
		}
	}
}

// readAudio counts audio packets, bytes and loss.
func (v *viewer) readAudio(t *webrtc.TrackRemote) {
	var seq seqTracker
	gotRTP := false
	buf := make([]byte, 1500)
	for {
		n, _, err := t.Read(buf)
		if err != nil {
			return
		}
		if n < 12 {
			continue
		}
		if !gotRTP {
			gotRTP = true
			v.stamp(&v.firstRTPNs)
		}
		v.audioPkts.Add(1)
		v.audioBytes.Add(uint64(n))
		if d := seq.push(uint16(buf[2])<<8 | uint16(buf[3])); d != 0 {
			v.lost.Add(d)
		}
	}
}
