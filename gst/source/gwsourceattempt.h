/* One connection attempt of gwsourcebin (internal to the element).
 *
 * An Attempt owns an inner GstPipeline, never a child of the bin:
 *   rtspsrc ! depay ! parse ! appsink          (an RTSP URL)
 *   <description> ! parse ! appsink            (a gst-launch description)
 * one depay/parse/appsink chain per stream, built when the stream appears.
 * The appsink callbacks rebase timestamps and push into the appsrc of the
 * bin's output the stream is bound to (OutputSet below).
 *
 * Which depayloader and parser a stream gets, and the caps on the bin's
 * pads, come from the codec table (gwcodec.h).
 */
#pragma once

#include <gst/gst.h>

#include "gwcodec.h"

#include <atomic>
#include <mutex>
#include <string>
#include <vector>

namespace gw {

enum class StreamKind
{
  VIDEO,
  AUDIO
};

/* "video" or "audio" */
const char *stream_kind_name (StreamKind kind);

/* The kind of @codec's streams. */
StreamKind stream_kind_of (const GwCodecInfo &codec);

/* The codec of @caps (RTP, the SDP caps of rtspsrc's select-stream, or an
 * elementary stream), or nullptr. *rtp: whether it needs a depayloader. */
const GwCodecInfo *codec_find (const GstCaps *caps, bool *rtp);

/* A short description of @caps for warnings ("video H265", "audio/x-raw"). */
std::string caps_describe (const GstCaps *caps);

/* Whether @msg is an error one of our depayloaders posted about a packet it
 * could not use (it carries on with the next packet; not a failed source). */
bool is_depayloader_packet_error (GstMessage *msg);

/* One src pad of the bin: the appsrc behind it and where its timestamps
 * stand. Lives as long as the bin. */
struct Output
{
  StreamKind kind;
  const GwCodecInfo *codec;
  GstElement *appsrc = nullptr; /* ref (also a child of the bin) */
  GstPad *pad = nullptr;        /* ref (the bin's ghost pad) */
  /* Under OutputSet::lock. */
  gint64 max_ts = -1;      /* largest PTS/DTS pushed so far */
  gint64 floor = -1;       /* this attempt pushes strictly above it */
  bool discont = true;     /* mark the next buffer DISCONT */
  GstCaps *caps = nullptr; /* last caps given to the appsrc */
};

/* What the bin shares with its attempts. */
struct OutputSet
{
  /* Protects the list, the fields of every Output marked so, and the
   * attempts' bound lists and timestamp offsets. Taken after the bin's own
   * lock, never held while pushing or emitting. */
  std::mutex lock;
  std::vector<Output *> list;
  /* Bumped whenever the bin stops: attempts of an older generation stop
   * feeding the outputs at once. */
  std::atomic<guint> generation{ 0 };
};

class Attempt;

/* What an attempt needs from the bin. Called without locks, from the
 * attempt's streaming threads or from the thread running Attempt::start. */
class AttemptHost
{
public:
  /* An output for a new stream of @attempt: an unused one of the same kind
   * and codec or a new one; nullptr if the bin is stopping. Records it in
   * attempt.bound. */
  virtual Output *bind_output (Attempt &attempt, const GwCodecInfo &codec) = 0;
  /* A stream of an unsupported codec is ignored. */
  virtual void stream_ignored (const std::string &what) = 0;
  /* The attempt has exposed all its streams. */
  virtual void all_streams_exposed () = 0;
  /* The first buffer of @attempt was pushed. */
  virtual void first_data (Attempt &attempt) = 0;
  /* One of @attempt's streams ended (the others may go on). */
  virtual void stream_ended (Attempt &attempt) = 0;

protected:
  ~AttemptHost () = default;
};

struct AttemptConfig
{
  GstObject *owner = nullptr; /* the bin, for logs; borrowed */
  std::string name;           /* of the inner pipeline */
  /* RTSP: URL without user info, and the credentials */
  std::string url, user, password;
  std::string protocols;      /* rtspsrc "protocols" nick, e.g. "tcp" */
  guint64 udp_timeout_us = 0; /* rtspsrc "timeout" (UDP -> TCP), 0: default */
  /* or a gst-launch description */
  std::string pipeline;
  guint latency_ms = 0;
  guint timeout_ms = 0;
  GstClock *clock = nullptr;  /* the outer pipeline's; borrowed */
  GstClockTime base_time = 0; /* the outer pipeline's */
};

/* Created, started and destroyed by one thread (the bin's worker). */
class Attempt
{
public:
  Attempt (AttemptHost &host, OutputSet &outputs, guint id, const AttemptConfig &config);
  /* Stops the inner pipeline, waiting for its streaming threads. */
  ~Attempt ();
  Attempt (const Attempt &) = delete;
  Attempt &operator= (const Attempt &) = delete;

  /* Builds and starts the inner pipeline; its bus is watched from @ctx with
   * @func (@data). Returns false with *error if it cannot start. */
  bool start (GMainContext *ctx, GstBusFunc func, gpointer data, std::string *error);

  guint
  id () const
  {
    return id_;
  }
  guint
  generation () const
  {
    return generation_;
  }
  bool
  cancelled () const
  {
    return cancelled_ || outputs_.generation != generation_;
  }
  bool
  got_data () const
  {
    return got_data_;
  }
  /* Monotonic time (us) of the last buffer, or of the start before any. */
  gint64
  last_activity_us () const
  {
    return got_data_ ? last_data_us_.load () : start_us_;
  }
  GstElement *
  pipeline () const
  {
    return pipeline_;
  }

  /* Outputs bound to this attempt's streams; under outputs.lock. */
  std::vector<Output *> bound;

  struct Stream;
  /* The data path, called by the appsink of @stream. */
  GstFlowReturn push_sample (Stream *stream, GstSample *sample);
  void stream_eos ();

private:
  bool build_rtsp (std::string *error);
  bool build_from_description (std::string *error);
  void attach_stream (GstPad *src);

  static gboolean on_select_stream (GstElement *, guint, GstCaps *, gpointer);
  static void on_pad_added (GstElement *, GstPad *, gpointer);
  static void on_no_more_pads (GstElement *, gpointer);
  static void on_dynamic_pad_added (GstElement *, GstPad *, gpointer);
  static void on_dynamic_no_more_pads (GstElement *, gpointer);
  static GstPadProbeReturn drop_broken_au (GstPad *, GstPadProbeInfo *, gpointer);

  AttemptHost &host_;
  OutputSet &outputs_;
  const guint id_;
  const guint generation_;
  AttemptConfig config_;
  GstElement *pipeline_ = nullptr;
  GSource *bus_source_ = nullptr;
  gint64 start_us_ = 0;
  std::atomic<bool> cancelled_{ false };
  std::atomic<bool> got_data_{ false };
  std::atomic<gint64> last_data_us_{ 0 };
  /* -1 unknown (appsinks sync, as for a file), 0 not live, 1 live */
  std::atomic<int> live_{ -1 };
  std::atomic<guint> broken_aus_{ 0 }; /* access units drop_broken_au dropped */
  std::mutex streams_lock_;
  std::vector<Stream *> streams_; /* under streams_lock_ */
  guint pending_dynamic_ = 0;     /* under streams_lock_ */
  bool static_done_ = false;      /* under streams_lock_ */
  /* Under outputs.lock: running time -> output running time. */
  bool have_offset_ = false;
  gint64 offset_ = 0;
};

/* "message (details)" of an element's error or warning (may hold secrets). */
std::string describe_error (const GError *err, const gchar *debug);

/* Parses a gst-launch description into a bin (floating), nullptr on error. */
GstElement *parse_description (const std::string &description, GError **error);

/* The unlinked src pads of @bin's elements, in description order, and the
 * elements that may add src pads later. Returns refs. */
void collect_unlinked (GstBin *bin, std::vector<GstPad *> *pads,
                       std::vector<GstElement *> *dynamic);

} // namespace gw
