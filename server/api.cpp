/* The index page (GET /) and the JSON API (GET /v1/paths[/NAME], the
 * sessions: GET /v1/sessions[/ID], /v1/paths/NAME/sessions, DELETE
 * /v1/sessions/ID); routing and auth are in http.cpp. Runs on the main
 * context. */
#include "httpcore.h"

#include <json-glib/json-glib.h>
#include <string.h>

namespace gw {

using namespace http;
using whep::cors;
using whep::respond;

static std::string
html_escape (const std::string &s)
{
  g_autofree gchar *e = g_markup_escape_text (s.c_str (), -1);
  return e;
}

void
HttpCore::serve_index (SoupServerMessage *msg)
{
  std::string html = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
                     "<title>webrtc-gateway</title></head>\n<body>\n<h1>Paths</h1>\n";
  auto paths = manager.paths ();
  if (paths.empty ()) {
    html += "<p>No paths are configured.</p>\n";
  } else {
    html += "<table>\n<tr><th>Name</th><th>State</th><th>Source</th><th>Readers</th></tr>\n";
    for (const auto &p : paths) {
      std::string n = html_escape (p->conf ().name);
      html += "<tr><td><a href=\"/" + n + "/\">" + n + "</a></td><td>"
              + html_escape (p->state_name ()) + "</td><td>" + html_escape (p->source_state ())
              + "</td><td>" + std::to_string (p->n_readers ()) + "</td></tr>\n";
    }
    html += "</table>\n";
  }
  html += "</body></html>\n";
  soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Cache-Control",
                                "no-store");
  soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
  soup_server_message_set_response (msg, "text/html; charset=utf-8", SOUP_MEMORY_COPY, html.data (),
                                    html.size ());
}

namespace {

void
send_json (SoupServerMessage *msg, JsonBuilder *b)
{
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  json_generator_set_root (gen, root);
  gsize len = 0;
  g_autofree gchar *text = json_generator_to_data (gen, &len);
  cors (msg, false);
  soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Cache-Control",
                                "no-store");
  soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
  soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_COPY, text, len);
}

void
add_string (JsonBuilder *b, const char *name, const std::string &value)
{
  json_builder_set_member_name (b, name);
  json_builder_add_string_value (b, value.c_str ());
}

/* RFC 3339, UTC, to the second. */
std::string
rfc3339 (gint64 real_us)
{
  g_autoptr (GDateTime) t = g_date_time_new_from_unix_utc (real_us / G_USEC_PER_SEC);
  if (!t)
    return "";
  g_autofree gchar *s = g_date_time_format (t, "%Y-%m-%dT%H:%M:%SZ");
  return s ? s : "";
}

void
add_session (JsonBuilder *b, const Session &s)
{
  json_builder_begin_object (b);
  add_string (b, "id", s.id ());
  add_string (b, "path", s.path_name ());
  add_string (b, "kind", s.kind ());
  add_string (b, "remote", s.remote ());
  add_string (b, "created", rfc3339 (s.created_real_us ()));
  /* A session parked while its path's source starts has no reader yet. */
  add_string (b, "state", s.reader () ? s.state () : "waiting");
  json_builder_set_member_name (b, "tracks");
  json_builder_begin_array (b);
  for (const SessionTrack &t : s.tracks ()) {
    json_builder_begin_object (b);
    add_string (b, "media", t.media);
    add_string (b, "codec", t.codec);
    json_builder_set_member_name (b, "passthrough");
    json_builder_add_boolean_value (b, TRUE);
    json_builder_end_object (b);
  }
  json_builder_end_array (b);
  json_builder_end_object (b);
}

} // namespace

void
HttpCore::serve_sessions (SoupServerMessage *msg, const std::string *path, const std::string *id)
{
  if (id) {
    auto s = manager.find_session (*id);
    if (!s || s->closed ()) {
      respond (msg, SOUP_STATUS_NOT_FOUND, "unknown session");
      return;
    }
    if (!strcmp (soup_server_message_get_method (msg), "DELETE")) {
      g_message ("session %s on %s (%s, %s) ended through the API", s->id ().c_str (),
                 s->path_name ().c_str (), s->kind (), s->remote ().c_str ());
      manager.close_session (*id);
      cors (msg, false);
      respond (msg, SOUP_STATUS_OK, "session closed");
      return;
    }
    g_autoptr (JsonBuilder) b = json_builder_new ();
    add_session (b, *s);
    send_json (msg, b);
    return;
  }
  if (path && !manager.find_path (*path)) {
    respond (msg, SOUP_STATUS_NOT_FOUND, "unknown path");
    return;
  }
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_array (b);
  for (const auto &s : manager.sessions ()) {
    if (s->closed () || (path && s->path_name () != *path))
      continue;
    add_session (b, *s);
  }
  json_builder_end_array (b);
  send_json (msg, b);
}

void
HttpCore::serve_api (SoupServerMessage *msg, const std::string *name)
{
  std::vector<std::shared_ptr<Path> > paths;
  if (name) {
    auto p = manager.find_path (*name);
    if (!p) {
      respond (msg, SOUP_STATUS_NOT_FOUND, "unknown path");
      return;
    }
    paths.push_back (p);
  } else {
    paths = manager.paths ();
  }

  g_autoptr (JsonBuilder) b = json_builder_new ();
  if (!name)
    json_builder_begin_array (b);
  for (const auto &p : paths) {
    json_builder_begin_object (b);
    json_builder_set_member_name (b, "name");
    json_builder_add_string_value (b, p->conf ().name.c_str ());
    json_builder_set_member_name (b, "state");
    json_builder_add_string_value (b, p->state_name ());
    json_builder_set_member_name (b, "source_state");
    json_builder_add_string_value (b, p->source_state ().c_str ());
    json_builder_set_member_name (b, "readers");
    json_builder_add_int_value (b, p->n_readers ());
    json_builder_set_member_name (b, "on_demand");
    json_builder_add_boolean_value (b, p->conf ().on_demand);
    json_builder_end_object (b);
  }
  if (!name)
    json_builder_end_array (b);

  g_autoptr (JsonNode) root = json_builder_get_root (b);
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  json_generator_set_root (gen, root);
  gsize len = 0;
  g_autofree gchar *text = json_generator_to_data (gen, &len);
  cors (msg, false);
  soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
  soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_COPY, text, len);
}

} // namespace gw
