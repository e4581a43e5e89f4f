#include "session.h"

#include "gwcodec.h"
#include "path.h"

#include <gst/sdp/sdp.h>

namespace gw {

namespace {

/* A path as the host of a session's reader. */
class PathHost : public SessionHost
{
public:
  explicit PathHost (const std::shared_ptr<Path> &path) : path_ (path) {}

  bool
  link_reader (GstElement *reader, std::string &reason) override
  {
    auto p = path_.lock ();
    if (!p) {
      reason = "the path is gone";
      return false;
    }
    return p->link_reader (reader, reason);
  }
  void
  unlink_reader (GstElement *reader) override
  {
    if (auto p = path_.lock ())
      p->unlink_reader (reader);
  }
  void
  remove_reader (ReaderSession *session) override
  {
    if (auto p = path_.lock ())
      p->remove_reader (static_cast<Session *> (session));
  }

private:
  std::weak_ptr<Path> path_;
};

} // namespace

Session::Session (std::string id, std::string path, SessionRole role, std::string remote_offer,
                  std::string remote)
    : ReaderSession (std::move (id), std::move (path), role, std::move (remote_offer)),
      remote_ (std::move (remote)), created_real_us_ (g_get_real_time ())
{
}

namespace {

/* The codec of @media's first payload type: from its a=rtpmap, else its
 * static payload type. */
const GwCodecInfo *
media_codec (const GstSDPMedia *media)
{
  if (gst_sdp_media_formats_len (media) == 0)
    return nullptr;
  std::string pt = gst_sdp_media_get_format (media, 0);
  for (guint i = 0; i < gst_sdp_media_attributes_len (media); i++) {
    const GstSDPAttribute *a = gst_sdp_media_get_attribute (media, i);
    if (g_strcmp0 (a->key, "rtpmap") != 0 || !a->value)
      continue;
    std::string v = a->value;
    if (v.compare (0, pt.size () + 1, pt + " ") != 0)
      continue;
    /* "96 H264/90000[/channels]" */
    g_auto (GStrv) parts = g_strsplit (v.c_str () + pt.size () + 1, "/", 3);
    if (!parts[0] || !parts[1])
      return nullptr;
    return gw_codec_from_encoding (g_strstrip (parts[0]),
                                   (guint)g_ascii_strtoull (parts[1], NULL, 10));
  }
  guint64 n = 0;
  if (g_ascii_string_to_unsigned (pt.c_str (), 10, 0, 127, &n, NULL))
    return gw_codec_from_static_pt ((guint)n);
  return nullptr;
}

} // namespace

std::vector<SessionTrack>
Session::tracks () const
{
  std::vector<SessionTrack> out;
  /* An answer says what was agreed; an offer not yet answered, what is
   * proposed. */
  const std::string &text = !remote_answer_.empty () ? remote_answer_ : local_sdp_;
  GstSDPMessage *sdp = NULL;
  if (text.empty () || gst_sdp_message_new_from_text (text.c_str (), &sdp) != GST_SDP_OK)
    return out;
  for (guint i = 0; i < gst_sdp_message_medias_len (sdp); i++) {
    const GstSDPMedia *m = gst_sdp_message_get_media (sdp, i);
    /* Port 0 rejects an m-line, unless it is bundled (RFC 9143: an offer's
     * bundle-only m-lines have port 0 too). */
    if ((gst_sdp_media_get_port (m) == 0 && !gst_sdp_media_get_attribute_val (m, "bundle-only"))
        || gst_sdp_media_get_attribute_val (m, "inactive"))
      continue;
    if (const GwCodecInfo *info = media_codec (m))
      out.push_back ({ info->video ? "video" : "audio", info->encoding_name });
  }
  gst_sdp_message_free (sdp);
  return out;
}

bool
Session::attach (Path &path, GstElement *pipeline)
{
  const ServerConfig &srv = path.server ();
  ReaderSettings settings;
  if (!srv.stun_servers.empty ())
    settings.stun_server = srv.stun_servers[0];
  for (const std::string &t : srv.turn_servers)
    settings.turn_servers += (settings.turn_servers.empty () ? "" : ",") + t;
  settings.ice_addresses = srv.ice_addresses;
  settings.min_port = srv.min_port;
  settings.max_port = srv.max_port;
  path_host_ = std::make_shared<PathHost> (path.shared_from_this ());
  return ReaderSession::attach (path_host_, pipeline, settings);
}

void
Session::log (GLogLevelFlags level, const std::string &message) const
{
  g_log (G_LOG_DOMAIN, level, "%s", message.c_str ());
}

void
Session::closing ()
{
  if (auto ended = std::move (on_ended)) {
    on_ended = nullptr;
    ended (*this);
  }
}

} // namespace gw
