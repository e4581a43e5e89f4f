#include "session.h"

#include "gwcodec.h"
#include "path.h"

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

std::vector<SessionTrack>
Session::tracks () const
{
  std::vector<SessionTrack> out;
  GstElement *r = reader ();
  if (!r || closed ())
    return out;
  GstIterator *it = gst_element_iterate_sink_pads (r);
  GValue item = G_VALUE_INIT;
  while (gst_iterator_next (it, &item) == GST_ITERATOR_OK) {
    GstPad *pad = GST_PAD (g_value_get_object (&item));
    g_autoptr (GstCaps) caps = gst_pad_get_current_caps (pad);
    const GwCodecInfo *info = caps ? gw_codec_from_caps (caps) : nullptr;
    if (info)
      out.push_back ({ info->video ? "video" : "audio", info->encoding_name });
    g_value_reset (&item);
  }
  g_value_unset (&item);
  gst_iterator_free (it);
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
