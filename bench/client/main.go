// gw-bench-client hosts many receive-only WHEP viewers in one process. Each
// viewer has its own PeerConnection; received RTP is counted, never decoded.
// Progress is printed on stdout as one JSON object per line (see README.md).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/pion/ice/v2"
	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v3"
)

// setupTimeout bounds how long after the last viewer started the "ready"
// event waits for keyframes.
const setupTimeout = 30 * time.Second

// client is the state shared by all viewers.
type client struct {
	url   *url.URL
	token string
	audio bool
	api   *webrtc.API
	http  *http.Client
	start time.Time

	outMu sync.Mutex // serializes stdout lines
	out   *json.Encoder

	mu       sync.Mutex // guards viewers' session URLs and stopping
	stopping bool
	viewers  []*viewer

	outcomes chan bool // one per viewer: first keyframe (true) or failure
}

type viewerEvent struct {
	Event      string  `json:"event"`
	ID         int     `json:"id"`
	Ready      bool    `json:"ready"`
	AnswerMs   float64 `json:"answer_ms"`
	IceMs      float64 `json:"ice_ms"`
	DtlsMs     float64 `json:"dtls_ms"`
	FirstRTPMs float64 `json:"first_rtp_ms"`
	FirstKFMs  float64 `json:"first_kf_ms"`
	LocalPort  int     `json:"local_port"`
	Error      string  `json:"error"`
}

type readyEvent struct {
	Event     string `json:"event"`
	Ready     int    `json:"ready"`
	Failed    int    `json:"failed"`
	ElapsedMs int64  `json:"elapsed_ms"`
}

type statsEvent struct {
	Event      string     `json:"event"`
	TMs        int64      `json:"t_ms"`
	Connected  int        `json:"connected"`
	VideoPkts  uint64     `json:"video_pkts"`
	AudioPkts  uint64     `json:"audio_pkts"`
	VideoBytes uint64     `json:"video_bytes"`
	AudioBytes uint64     `json:"audio_bytes"`
	Lost       int64      `json:"lost"`
	Frames     uint64     `json:"frames"`
	CPUMs      float64    `json:"cpu_ms"`
	PerViewer  [][4]int64 `json:"per_viewer"`
}

// emit writes one JSON line to stdout (unbuffered: each line is flushed).
func (c *client) emit(v interface{}) {
	c.outMu.Lock()
	defer c.outMu.Unlock()
	if err := c.out.Encode(v); err != nil {
		fmt.Fprintf(os.Stderr, "gw-bench-client: writing stdout: %v\n", err)
	}
}

func (c *client) authorize(req *http.Request) {
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
}

// addSession records a viewer's session URL for the final DELETE. When the
// client is already stopping it deletes the session at once and says false.
func (c *client) addSession(v *viewer, loc string) bool {
	c.mu.Lock()
	stopping := c.stopping
	if !stopping {
		v.loc = loc
	}
	c.mu.Unlock()
	if stopping {
		c.deleteSession(loc)
	}
	return !stopping
}

// deleteSession ends one WHEP session, waiting 2 s at most.
func (c *client) deleteSession(loc string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, loc, nil)
	if err != nil {
		return
	}
	c.authorize(req)
	resp, err := c.http.Do(req)
	if err != nil {
		fmt.Fprintf(os.Stderr, "gw-bench-client: DELETE %s: %v\n", loc, err)
		return
	}
	resp.Body.Close()
}

// cpuMs is this process's user+system CPU time in milliseconds (the same
// quantity as utime+stime of /proc/self/stat, with microsecond resolution).
func cpuMs() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return -1
	}
	us := ru.Utime.Sec*1e6 + int64(ru.Utime.Usec) + ru.Stime.Sec*1e6 + int64(ru.Stime.Usec)
	return float64(us/100) / 10
}

// stats sums every viewer's counters.
func (c *client) stats(event string) statsEvent {
	c.mu.Lock()
	vs := c.viewers
	c.mu.Unlock()
	s := statsEvent{Event: event, TMs: time.Since(c.start).Milliseconds(),
		PerViewer: make([][4]int64, len(vs))}
	for i, v := range vs {
		vp, ap, lost, fr := v.videoPkts.Load(), v.audioPkts.Load(), v.lost.Load(), v.frames.Load()
		s.VideoPkts += vp
		s.AudioPkts += ap
		s.VideoBytes += v.videoBytes.Load()
		s.AudioBytes += v.audioBytes.Load()
		s.Lost += lost
		s.Frames += fr
		if v.connected.Load() {
			s.Connected++
		}
		s.PerViewer[i] = [4]int64{int64(vp), int64(ap), lost, int64(fr)}
	}
	s.CPUMs = cpuMs()
	return s
}

// newAPI builds the pion API shared by all viewers: H.264 (several
// profiles, packetization-mode 1) and Opus, host candidates on bind only,
// no mDNS, and only the receiver report interceptor.
func newAPI(bind net.IP) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	fb := []webrtc.RTCPFeedback{{Type: "nack", Parameter: "pli"}, {Type: "ccm", Parameter: "fir"}}
	h264 := []struct {
		pt   webrtc.PayloadType
		plid string
	}{{102, "42e01f"}, {104, "42001f"}, {106, "4d001f"}, {108, "640032"}, {110, "64001f"}}
	for _, h := range h264 {
		err := m.RegisterCodec(webrtc.RTPCodecParameters{
			RTPCodecCapability: webrtc.RTPCodecCapability{
				MimeType: webrtc.MimeTypeH264, ClockRate: 90000, RTCPFeedback: fb,
				SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=" + h.plid},
			PayloadType: h.pt}, webrtc.RTPCodecTypeVideo)
		if err != nil {
			return nil, err
		}
	}
	err := m.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2,
			SDPFmtpLine: "minptime=10;useinbandfec=1"},
		PayloadType: 111}, webrtc.RTPCodecTypeAudio)
	if err != nil {
		return nil, err
	}
	reg := &interceptor.Registry{}
	if err := webrtc.ConfigureRTCPReports(reg); err != nil {
		return nil, err
	}
	se := webrtc.SettingEngine{}
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIPFilter(func(ip net.IP) bool { return ip.Equal(bind) })
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(reg),
		webrtc.WithSettingEngine(se)), nil
}

func usageError(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "gw-bench-client: "+format+"\n", a...)
	fmt.Fprintln(os.Stderr, "usage: gw-bench-client -url URL -bind ADDR [-n N] [-ramp-ms MS] "+
		"[-duration S] [-stats-interval-ms MS] [-token T] [-audio=BOOL]")
	os.Exit(2)
}

func main() {
	rawURL := flag.String("url", "", "WHEP endpoint, e.g. http://10.99.0.1:8889/cam/whep")
	n := flag.Int("n", 1, "number of viewers (1-5000)")
	rampMs := flag.Int("ramp-ms", 50, "ms between viewer starts (0: all at once)")
	bindStr := flag.String("bind", "", "local IPv4 address for ICE host candidates and HTTP")
	duration := flag.Float64("duration", 0, "seconds to run, then stop (0: until SIGINT/SIGTERM)")
	statsMs := flag.Int("stats-interval-ms", 500, "ms between stats lines (>= 10)")
	token := flag.String("token", "", "bearer token sent with every request")
	audio := flag.Bool("audio", true, "also receive an Opus audio track")
	flag.Parse()

	if flag.NArg() > 0 {
		usageError("unexpected argument %q", flag.Arg(0))
	}
	u, err := url.Parse(*rawURL)
	if *rawURL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		usageError("-url must be an http:// or https:// WHEP endpoint (got %q)", *rawURL)
	}
	bind := net.ParseIP(*bindStr).To4()
	if bind == nil {
		usageError("-bind must be an IPv4 address (got %q)", *bindStr)
	}
	if *n < 1 || *n > 5000 || *rampMs < 0 || *duration < 0 || *statsMs < 10 {
		usageError("need 1 <= -n <= 5000, -ramp-ms >= 0, -duration >= 0, -stats-interval-ms >= 10")
	}
	if l, err := net.ListenUDP("udp4", &net.UDPAddr{IP: bind}); err != nil {
		usageError("-bind %s is not a local address: %v", bind, err)
	} else {
		l.Close()
	}
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: bind}, Timeout: 5 * time.Second}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), map[string]string{"http": "80", "https": "443"}[u.Scheme])
	}
	if conn, err := dialer.Dial("tcp", host); err != nil {
		fmt.Fprintf(os.Stderr, "gw-bench-client: cannot reach %s: %v\n", host, err)
		os.Exit(1)
	} else {
		conn.Close()
	}

	api, err := newAPI(bind)
	if err != nil {
		fmt.Fprintf(os.Stderr, "gw-bench-client: setting up WebRTC: %v\n", err)
		os.Exit(1)
	}
	c := &client{url: u, token: *token, audio: *audio, api: api, start: time.Now(),
		out:      json.NewEncoder(os.Stdout),
		outcomes: make(chan bool, *n),
		http: &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext,
			MaxIdleConnsPerHost: 64, Proxy: nil}},
	}
	run(c, *n, time.Duration(*rampMs)*time.Millisecond, time.Duration(*duration*float64(time.Second)),
		time.Duration(*statsMs)*time.Millisecond)
}

// run starts the viewers, prints stats until a signal or the duration, then
// ends every session.
func run(c *client, n int, ramp, duration, interval time.Duration) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	stop := make(chan struct{})
	go func() {
		var timeout <-chan time.Time
		if duration > 0 {
			timeout = time.After(duration - time.Since(c.start))
		}
		select {
		case <-sigs:
		case <-timeout:
		}
		close(stop)
	}()

	// Ramp: viewer i starts at start + i*ramp, each in its own goroutine, so
	// slow joins never hold up the next one.
	launched := make(chan time.Time, 1)
	go func() {
		for i := 0; i < n; i++ {
			if ramp > 0 && i > 0 {
				select {
				case <-time.After(time.Until(c.start.Add(time.Duration(i) * ramp))):
				case <-stop:
					return
				}
			}
			v := newViewer(i, c)
			c.mu.Lock()
			c.viewers = append(c.viewers, v)
			c.mu.Unlock()
			go v.run()
		}
		launched <- time.Now()
	}()

	// Ready: every viewer has a first keyframe or failed, or the setup
	// timeout after the last start marks the remaining ones failed.
	go func() {
		var deadline <-chan time.Time
		ready, failed := 0, 0
		for ready+failed < n {
			select {
			case ok := <-c.outcomes:
				if ok {
					ready++
				} else {
					failed++
				}
			case t := <-launched:
				deadline = time.After(time.Until(t.Add(setupTimeout)))
			case <-deadline:
				deadline = nil
				c.mu.Lock()
				vs := c.viewers
				c.mu.Unlock()
				for _, v := range vs {
					v.finish("no complete keyframe within 30 s of the last start")
				}
			case <-stop:
				return
			}
		}
		c.emit(readyEvent{Event: "ready", Ready: ready, Failed: failed,
			ElapsedMs: time.Since(c.start).Milliseconds()})
	}()

	tick := time.NewTicker(interval)
	defer tick.Stop()
loop:
	for {
		select {
		case <-tick.C:
			c.emit(c.stats("stats"))
		case <-stop:
			break loop
		}
	}
	shutdown(c)
}

// shutdown DELETEs every session in parallel, prints the final stats and
// closes the PeerConnections (bounded), then exits 0.
func shutdown(c *client) {
	c.mu.Lock()
	c.stopping = true
	vs := c.viewers
	c.mu.Unlock()
	var wg sync.WaitGroup
	for _, v := range vs {
		if v.loc != "" {
			wg.Add(1)
			go func(loc string) {
				defer wg.Done()
				c.deleteSession(loc)
			}(v.loc)
		}
	}
	wg.Wait()
	c.emit(c.stats("final"))
	closed := make(chan struct{})
	go func() {
		var cw sync.WaitGroup
		for _, v := range vs {
			if pc := v.pc.Load(); pc != nil {
				cw.Add(1)
				go func() { defer cw.Done(); pc.Close() }()
			}
		}
		cw.Wait()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(2 * time.Second):
	}
	os.Exit(0)
}
