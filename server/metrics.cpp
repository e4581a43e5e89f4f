/* GET /metrics: Prometheus text; routing and auth are in http.cpp. Runs on
 * the main context. */
#include "httpcore.h"

namespace gw {

using namespace http;

void
HttpCore::serve_metrics (SoupServerMessage *msg)
{
  auto paths = manager.paths ();
  GString *s = g_string_new (NULL);
  g_string_append_printf (s,
                          "# HELP gw_paths Configured paths.\n# TYPE gw_paths gauge\n"
                          "gw_paths %u\n",
                          (guint)paths.size ());
  g_string_append (s, "# HELP gw_readers Readers of a path, including those waiting for its "
                      "source.\n# TYPE gw_readers gauge\n");
  for (const auto &p : paths) {
    std::string label;
    for (char c : p->conf ().name) {
      if (c == '\\' || c == '"')
        label += '\\';
      label += c == '\n' ? 'n' : c;
    }
    g_string_append_printf (s, "gw_readers{path=\"%s\"} %u\n", label.c_str (), p->n_readers ());
  }
  g_string_append_printf (s,
                          "# HELP gw_sessions Open reader sessions.\n"
                          "# TYPE gw_sessions gauge\ngw_sessions %u\n",
                          manager.n_sessions ());
  g_string_append_printf (s,
                          "# HELP gw_sessions_total Reader sessions created (WHEP and "
                          "websocket) since the server started.\n# TYPE gw_sessions_total counter\n"
                          "gw_sessions_total %" G_GUINT64_FORMAT "\n",
                          manager.sessions_total ());
  if (limits) {
    g_string_append_printf (s,
                            "# HELP gw_http_connections Open HTTP connections (websockets "
                            "included).\n# TYPE gw_http_connections gauge\n"
                            "gw_http_connections %u\n"
                            "# HELP gw_http_connections_refused_total Connections refused over "
                            "max-connections-per-address (429) or max-connections (503).\n"
                            "# TYPE gw_http_connections_refused_total counter\n"
                            "gw_http_connections_refused_total{limit=\"per-address\"} "
                            "%" G_GUINT64_FORMAT "\n"
                            "gw_http_connections_refused_total{limit=\"global\"} "
                            "%" G_GUINT64_FORMAT "\n"
                            "# HELP gw_http_connections_timed_out_total Connections closed after "
                            "request-timeout without a complete request.\n"
                            "# TYPE gw_http_connections_timed_out_total counter\n"
                            "gw_http_connections_timed_out_total %" G_GUINT64_FORMAT "\n",
                            limits->open (), limits->refused_per_address (),
                            limits->refused_global (), limits->timed_out ());
  }
  gsize len = s->len;
  gchar *text = g_string_free (s, FALSE);
  soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
  soup_server_message_set_response (msg, "text/plain; version=0.0.4; charset=utf-8",
                                    SOUP_MEMORY_TAKE, text, len);
}

} // namespace gw
