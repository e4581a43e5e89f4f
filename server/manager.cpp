#include "manager.h"

#include "gwsdp.h"
#include "gwwhepserver.h"

#include <algorithm>
#include <set>

namespace gw {

std::string
new_session_id ()
{
  /* The id alone authorises PATCH and DELETE: 128 bits from the kernel's
   * CSPRNG, the same generator gwsink uses. */
  g_autofree gchar *id = gw_whep_new_session_id ();
  return id;
}

Manager::Manager (std::string config_file, std::string pipelines_override)
    : config_file_ (std::move (config_file)), pipelines_override_ (std::move (pipelines_override))
{
}

Manager::~Manager ()
{
  if (reload_timer_)
    g_source_remove (reload_timer_);
  g_clear_object (&dir_monitor_);
  g_clear_object (&file_monitor_);
  for (auto &p : paths_)
    p.second->shutdown ();
  paths_.clear ();
  sessions_.clear ();
}

std::unique_ptr<Source>
Manager::make_source (const PathConfig &conf, SourceEvents &events)
{
  return make_gst_source (conf, events);
}

bool
Manager::load_paths (std::vector<PathConfig> &out, GError **error)
{
  std::vector<GError *> errors;
  if (!load_path_dir (server_.pipelines_dir, out, errors, error))
    return false;
  for (GError *e : errors) {
    problems_.push_back (e->message);
    g_error_free (e);
  }
  return true;
}

bool
Manager::load (GError **error)
{
  problems_.clear ();
  ServerConfig conf;
  if (!config_file_.empty () && !load_server_config (config_file_, conf, error))
    return false;
  if (!pipelines_override_.empty ())
    conf.pipelines_dir = pipelines_override_;
  server_ = conf;

  std::vector<PathConfig> configs;
  if (!load_paths (configs, error))
    return false;
  for (PathConfig &pc : configs) {
    auto path = std::make_shared<Path> (pc, *this);
    paths_[pc.name] = path;
  }
  return true;
}

void
Manager::start ()
{
  for (auto &p : paths_)
    p.second->activate ();
}

void
Manager::reload ()
{
  problems_.clear ();
  if (!config_file_.empty ()) {
    ServerConfig conf;
    GError *err = NULL;
    if (load_server_config (config_file_, conf, &err)) {
      if (!pipelines_override_.empty ())
        conf.pipelines_dir = pipelines_override_;
      /* Paths keep a reference to server_: update it in place. New settings
       * apply to readers that join from now on. */
      server_ = conf;
    } else {
      problems_.push_back (err->message);
      g_warning ("reload: %s (keeping the previous server settings)", err->message);
      g_error_free (err);
    }
  }

  std::vector<PathConfig> configs;
  GError *err = NULL;
  if (!load_paths (configs, &err)) {
    g_warning ("reload: %s", err->message);
    g_error_free (err);
    return;
  }
  for (const std::string &p : problems_)
    g_warning ("reload: %s (the path keeps its last good definition)", p.c_str ());

  /* Names of every *.pipeline file present, broken or not: a broken file's
   * path keeps running on its last good definition. */
  std::set<std::string> present;
  if (GDir *d = g_dir_open (server_.pipelines_dir.c_str (), 0, NULL)) {
    while (const gchar *n = g_dir_read_name (d)) {
      if (g_str_has_suffix (n, ".pipeline") && n[0] != '.') {
        std::string name (n);
        present.insert (name.substr (0, name.size () - 9));
      }
    }
    g_dir_close (d);
  }

  std::set<std::string> loaded;
  for (PathConfig &pc : configs) {
    loaded.insert (pc.name);
    auto it = paths_.find (pc.name);
    if (it != paths_.end () && it->second->conf ().same_as (pc))
      continue;
    if (it != paths_.end ()) {
      g_message ("path %s changed: restarting it", pc.name.c_str ());
      it->second->shutdown ();
    } else {
      g_message ("path %s added", pc.name.c_str ());
    }
    auto path = std::make_shared<Path> (pc, *this);
    paths_[pc.name] = path;
    path->activate ();
  }
  for (auto it = paths_.begin (); it != paths_.end ();) {
    if (!loaded.count (it->first) && !present.count (it->first)) {
      g_message ("path %s removed", it->first.c_str ());
      it->second->shutdown ();
      it = paths_.erase (it);
    } else {
      ++it;
    }
  }
}

void
Manager::on_changed (GFileMonitor *, GFile *, GFile *, GFileMonitorEvent event, gpointer data)
{
  Manager *self = static_cast<Manager *> (data);
  if (event == G_FILE_MONITOR_EVENT_ATTRIBUTE_CHANGED)
    return;
  /* Editors write in several steps: reload once things settle. */
  if (self->reload_timer_)
    g_source_remove (self->reload_timer_);
  self->reload_timer_ = g_timeout_add (
      300,
      [] (gpointer d) -> gboolean {
        Manager *m = static_cast<Manager *> (d);
        m->reload_timer_ = 0;
        m->reload ();
        return G_SOURCE_REMOVE;
      },
      self);
}

void
Manager::watch ()
{
  g_autoptr (GFile) dir = g_file_new_for_path (server_.pipelines_dir.c_str ());
  GError *err = NULL;
  dir_monitor_ = g_file_monitor_directory (dir, G_FILE_MONITOR_WATCH_MOVES, NULL, &err);
  if (dir_monitor_) {
    g_file_monitor_set_rate_limit (dir_monitor_, 200);
    g_signal_connect (dir_monitor_, "changed", G_CALLBACK (on_changed), this);
  } else {
    g_warning ("cannot watch %s: %s (reload with SIGHUP)", server_.pipelines_dir.c_str (),
               err->message);
    g_clear_error (&err);
  }
  if (!config_file_.empty ()) {
    g_autoptr (GFile) file = g_file_new_for_path (config_file_.c_str ());
    file_monitor_ = g_file_monitor_file (file, G_FILE_MONITOR_WATCH_MOVES, NULL, NULL);
    if (file_monitor_)
      g_signal_connect (file_monitor_, "changed", G_CALLBACK (on_changed), this);
  }
}

std::shared_ptr<Path>
Manager::find_path (const std::string &name) const
{
  auto it = paths_.find (name);
  return it == paths_.end () ? nullptr : it->second;
}

std::vector<std::shared_ptr<Path> >
Manager::paths () const
{
  std::vector<std::shared_ptr<Path> > out;
  for (auto &p : paths_)
    out.push_back (p.second);
  return out;
}

std::shared_ptr<Session>
Manager::create_session (const std::string &path_name, SessionRole role,
                         const std::string &remote_offer, const std::string &remote,
                         const SessionEvents &events, guint &status, std::string &reason)
{
  auto path = valid_path_name (path_name) ? find_path (path_name) : nullptr;
  if (!path) {
    status = 404;
    reason = "no such path";
    return nullptr;
  }
  if (role == SessionRole::Answerer) {
    /* A bad offer is answered at once, not after the source has started. */
    GError *err = NULL;
    GstSDPMessage *sdp = gw_sdp_parse (remote_offer.c_str (), &err);
    if (!sdp) {
      status = 400;
      reason = err->message;
      g_error_free (err);
      return nullptr;
    }
    gst_sdp_message_free (sdp);
  }
  guint max = path->conf ().max_readers;
  if (max && path->n_readers () >= max) {
    status = 503;
    reason = "path " + path_name + " has reached max-readers (" + std::to_string (max) + ")";
    return nullptr;
  }
  std::string id;
  do
    id = new_session_id ();
  while (sessions_.count (id));
  auto session = std::make_shared<Session> (id, path_name, role, remote_offer, remote);
  session->events = events;
  std::weak_ptr<Path> weak_path = path;
  /* The path hears when its viewer's connection is up (run-on-read); the
   * session keeps its description (for its tracks). */
  std::weak_ptr<Session> weak_session = session;
  session->events.on_description
      = [weak_session, on_description = events.on_description] (const std::string &sdp) {
          if (auto s = weak_session.lock ())
            s->set_local_description (sdp);
          if (on_description)
            on_description (sdp);
        };
  session->events.on_state
      = [weak_path, weak_session, on_state = events.on_state] (const std::string &state) {
          if (state == "connected") {
            auto p = weak_path.lock ();
            auto s = weak_session.lock ();
            if (p && s)
              p->reader_connected (*s);
          }
          if (on_state)
            on_state (state);
        };
  session->on_ended = [this, weak_path] (Session &s) {
    if (auto p = weak_path.lock ())
      p->remove_reader (&s);
    forget_session (s.id ());
  };
  sessions_[id] = session;
  sessions_total_++;
  path->add_reader (session);
  status = 0;
  return session;
}

std::shared_ptr<Session>
Manager::find_session (const std::string &id) const
{
  auto it = sessions_.find (id);
  return it == sessions_.end () ? nullptr : it->second;
}

std::vector<std::shared_ptr<Session> >
Manager::sessions () const
{
  std::vector<std::shared_ptr<Session> > out;
  for (const auto &kv : sessions_)
    out.push_back (kv.second);
  std::stable_sort (out.begin (), out.end (), [] (const auto &a, const auto &b) {
    return a->created_us () < b->created_us ();
  });
  return out;
}

void
Manager::close_session (const std::string &id)
{
  auto s = find_session (id);
  if (s)
    s->close ();
  sessions_.erase (id);
}

void
Manager::forget_session (const std::string &id)
{
  /* Keep the session alive until the current callback returns. */
  auto it = sessions_.find (id);
  if (it == sessions_.end ())
    return;
  auto keep = it->second;
  sessions_.erase (it);
  run_on_main ([keep] () {});
}

} // namespace gw
