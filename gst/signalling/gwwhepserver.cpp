/* GwWhepServer: see gwwhepserver.h.
 *
 * Threads: everything below runs on the server thread, except new, stop,
 * free and schedule. The SoupServer is created in new (with the server's
 * context pushed, so its sockets attach to that context) and handed to the
 * thread before the loop starts; free touches it again only once the thread
 * has ended.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gwwhepserver.h"
#include "gwplayerpage.h"

#include <gst/gst.h>
#include <string.h>
#include <sys/random.h>

GST_DEBUG_CATEGORY_STATIC (gw_whep_server_debug);
#define GST_CAT_DEFAULT gw_whep_server_debug

#define MAX_BODY_SIZE (64 * 1024)

struct _GwWhepServer
{
  GwWhepHandlers handlers;
  gpointer user_data;
  GMainContext *context;
  GMainLoop *loop;
  GThread *thread;          /* NULL once stopped */
  gboolean thread_detached; /* stopped from the server thread itself */
  SoupServer *server;
  guint port;
};

/* What the thread holds, so that it can outlive a server freed on it. */
struct ThreadData
{
  GMainContext *context;
  GMainLoop *loop;
};

/* ------------------------------------------------------------ replies */

void
gw_whep_respond (SoupServerMessage *msg, guint status, const gchar *text)
{
  soup_server_message_set_status (msg, status, NULL);
  if (text) {
    g_autofree gchar *body = g_strconcat (text, "\n", NULL);
    soup_server_message_set_response (msg, "text/plain; charset=utf-8", SOUP_MEMORY_COPY, body,
                                      strlen (body));
  }
}

static void
respond_not_allowed (SoupServerMessage *msg, const char *allow)
{
  soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Allow", allow);
  g_autofree gchar *text = g_strdup_printf ("method not allowed here (allowed: %s)", allow);
  gw_whep_respond (msg, SOUP_STATUS_METHOD_NOT_ALLOWED, text);
}

/* Every answer may be read by a page from another origin. */
static void
add_cors_headers (SoupServerMessage *msg)
{
  SoupMessageHeaders *h = soup_server_message_get_response_headers (msg);
  soup_message_headers_replace (h, "Access-Control-Allow-Origin", "*");
  soup_message_headers_replace (h, "Access-Control-Expose-Headers", "Location, Link");
}

static void
respond_preflight (SoupServerMessage *msg, const char *allow, gboolean whep)
{
  SoupMessageHeaders *h = soup_server_message_get_response_headers (msg);
  soup_message_headers_replace (h, "Access-Control-Allow-Methods", allow);
  soup_message_headers_replace (h, "Access-Control-Allow-Headers",
                                "Content-Type, Authorization, If-Match");
  soup_message_headers_replace (h, "Access-Control-Max-Age", "86400");
  soup_message_headers_replace (h, "Allow", allow);
  if (whep)
    soup_message_headers_replace (h, "Accept-Post", "application/sdp");
  soup_server_message_set_status (msg, SOUP_STATUS_NO_CONTENT, NULL);
}

static gboolean
has_content_type (SoupServerMessage *msg, const char *expected)
{
  const char *ct
      = soup_message_headers_get_content_type (soup_server_message_get_request_headers (msg), NULL);
  return ct && g_ascii_strcasecmp (ct, expected) == 0;
}

/* The request body as a string, or NULL (with a 400 set) if it holds a NUL. */
static gchar *
body_text (SoupServerMessage *msg)
{
  g_autoptr (GBytes) body = soup_message_body_flatten (soup_server_message_get_request_body (msg));
  gsize len = 0;
  const char *data = static_cast<const char *> (g_bytes_get_data (body, &len));
  if (len && memchr (data, 0, len)) {
    gw_whep_respond (msg, SOUP_STATUS_BAD_REQUEST, "the body is not text");
    return NULL;
  }
  return g_strndup (data ? data : "", len);
}

/* ------------------------------------------------------------ sessions */

struct _GwWhepPending
{
  SoupServerMessage *msg;
  gulong handler;
  gboolean gone;
  void (*gone_func) (gpointer data);
  gpointer data;
};

static void
on_pending_disconnected (SoupServerMessage *msg, gpointer user_data)
{
  GwWhepPending *p = static_cast<GwWhepPending *> (user_data);
  /* Its I/O is gone: unpausing it now would be a programming error. */
  p->gone = TRUE;
  if (p->gone_func)
    p->gone_func (p->data);
}

GwWhepPending *
gw_whep_pending_new (SoupServerMessage *msg, void (*gone) (gpointer data), gpointer data)
{
  GwWhepPending *p = g_new0 (GwWhepPending, 1);
  soup_server_message_pause (msg);
  p->msg = SOUP_SERVER_MESSAGE (g_object_ref (msg));
  p->gone_func = gone;
  p->data = data;
  p->handler = g_signal_connect (msg, "disconnected", G_CALLBACK (on_pending_disconnected), p);
  return p;
}

void
gw_whep_pending_free (GwWhepPending *p)
{
  if (!p)
    return;
  g_signal_handler_disconnect (p->msg, p->handler);
  g_object_unref (p->msg);
  g_free (p);
}

void
gw_whep_pending_answer (GwWhepPending *p, const gchar *id, const gchar *sdp)
{
  if (!p->gone) {
    g_autofree gchar *location = g_strdup_printf ("/whep/%s", id);
    soup_message_headers_replace (soup_server_message_get_response_headers (p->msg), "Location",
                                  location);
    soup_server_message_set_status (p->msg, SOUP_STATUS_CREATED, NULL);
    soup_server_message_set_response (p->msg, "application/sdp", SOUP_MEMORY_COPY, sdp,
                                      strlen (sdp));
    soup_server_message_unpause (p->msg);
  }
  gw_whep_pending_free (p);
}

void
gw_whep_pending_fail (GwWhepPending *p, guint status, const gchar *text)
{
  if (!p->gone) {
    gw_whep_respond (p->msg, status, text);
    soup_server_message_unpause (p->msg);
  }
  gw_whep_pending_free (p);
}

gchar *
gw_whep_new_session_id (void)
{
  guint8 bytes[16];
  if (getrandom (bytes, sizeof bytes, 0) != (ssize_t)sizeof bytes) {
    for (guint8 &b : bytes)
      b = (guint8)g_random_int_range (0, 256);
  }
  static const char hex[] = "0123456789abcdef";
  gchar *id = g_new (gchar, 2 * sizeof bytes + 1);
  for (gsize i = 0; i < sizeof bytes; i++) {
    id[2 * i] = hex[bytes[i] >> 4];
    id[2 * i + 1] = hex[bytes[i] & 15];
  }
  id[2 * sizeof bytes] = '\0';
  return id;
}

/* ------------------------------------------------------------ trickle */

GArray *
gw_whep_parse_trickle (const gchar *fragment, gchar ***parsed_lines)
{
  GArray *out = g_array_new (FALSE, FALSE, sizeof (GwTrickleCandidate));
  gchar **lines = g_strsplit (fragment ? fragment : "", "\n", -1);
  *parsed_lines = lines;
  gint section = -1;
  const gchar *mid = NULL;
  for (gchar **l = lines; *l; l++) {
    gsize n = strlen (*l);
    if (n && (*l)[n - 1] == '\r')
      (*l)[n - 1] = '\0';
    if (g_str_has_prefix (*l, "m=")) {
      section++;
      mid = NULL;
    } else if (g_str_has_prefix (*l, "a=mid:")) {
      mid = *l + 6;
    } else if (g_str_has_prefix (*l, "a=candidate:") || g_str_equal (*l, "a=end-of-candidates")) {
      GwTrickleCandidate c = { section, mid, g_str_has_prefix (*l, "a=candidate:") ? *l + 2 : "" };
      g_array_append_val (out, c);
    }
  }
  /* A mid given after the candidates of its section still names it. */
  for (guint i = 0; i < out->len; i++) {
    GwTrickleCandidate *c = &g_array_index (out, GwTrickleCandidate, i);
    if (c->mid || c->section < 0)
      continue;
    gint s = -1;
    for (gchar **l = lines; *l; l++) {
      if (g_str_has_prefix (*l, "m="))
        s++;
      else if (s == c->section && g_str_has_prefix (*l, "a=mid:"))
        c->mid = *l + 6;
    }
  }
  return out;
}

/* ------------------------------------------------------------ routes */

static void
on_got_chunk (SoupServerMessage *msg, GBytes *chunk, gpointer user_data)
{
  SoupMessageBody *body = soup_server_message_get_request_body (msg);
  if (body->length > MAX_BODY_SIZE && soup_server_message_get_status (msg) == 0) {
    /* Drop what was kept and the rest: the handler will not run. */
    soup_message_body_set_accumulate (body, FALSE);
    soup_message_body_truncate (body);
    gw_whep_respond (msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, "the request body is over 64 KiB");
  }
}

/* Runs once the headers are in, before the body is read. */
static void
on_early_request (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
                  gpointer user_data)
{
  add_cors_headers (msg);
  SoupMessageHeaders *h = soup_server_message_get_request_headers (msg);
  if (soup_message_headers_get_encoding (h) == SOUP_ENCODING_CONTENT_LENGTH
      && soup_message_headers_get_content_length (h) > MAX_BODY_SIZE) {
    soup_message_body_set_accumulate (soup_server_message_get_request_body (msg), FALSE);
    gw_whep_respond (msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, "the request body is over 64 KiB");
    return;
  }
  g_signal_connect (msg, "got-chunk", G_CALLBACK (on_got_chunk), NULL);
}

static void
handle_post (GwWhepServer *self, SoupServerMessage *msg)
{
  if (!has_content_type (msg, "application/sdp")) {
    gw_whep_respond (msg, SOUP_STATUS_UNSUPPORTED_MEDIA_TYPE,
                     "send the offer with Content-Type: application/sdp");
    return;
  }
  g_autofree gchar *sdp = body_text (msg);
  if (!sdp)
    return;
  if (!*sdp) {
    gw_whep_respond (msg, SOUP_STATUS_BAD_REQUEST, "the offer is empty");
    return;
  }
  self->handlers.offer (self->user_data, msg, sdp);
}

static void
handle_session (GwWhepServer *self, SoupServerMessage *msg, const char *method, const char *id)
{
  if (!strcmp (method, "OPTIONS")) {
    respond_preflight (msg, "PATCH, DELETE, OPTIONS", FALSE);
    return;
  }
  if (!strcmp (method, "DELETE")) {
    if (self->handlers.remove (self->user_data, id))
      gw_whep_respond (msg, SOUP_STATUS_OK, "session ended");
    else
      gw_whep_respond (msg, SOUP_STATUS_NOT_FOUND, "no such session");
    return;
  }
  if (strcmp (method, "PATCH")) {
    respond_not_allowed (msg, "PATCH, DELETE, OPTIONS");
    return;
  }
  if (!has_content_type (msg, "application/trickle-ice-sdpfrag")) {
    gw_whep_respond (msg, SOUP_STATUS_UNSUPPORTED_MEDIA_TYPE,
                     "send candidates with Content-Type: application/trickle-ice-sdpfrag");
    return;
  }
  g_autofree gchar *frag = body_text (msg);
  if (!frag)
    return;
  gchar **lines = NULL;
  GArray *cands = gw_whep_parse_trickle (frag, &lines);
  gboolean found = self->handlers.trickle (
      self->user_data, id, (const GwTrickleCandidate *)(void *)cands->data, cands->len);
  g_array_unref (cands);
  g_strfreev (lines);
  if (found)
    soup_server_message_set_status (msg, SOUP_STATUS_NO_CONTENT, NULL);
  else
    gw_whep_respond (msg, SOUP_STATUS_NOT_FOUND, "no such session");
}

static void
on_request (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
            gpointer user_data)
{
  GwWhepServer *self = static_cast<GwWhepServer *> (user_data);
  const char *method = soup_server_message_get_method (msg);
  gboolean get = !strcmp (method, "GET") || !strcmp (method, "HEAD");
  gboolean options = !strcmp (method, "OPTIONS");
  if (!path)
    path = "/";
  GST_DEBUG ("%s %s from %s", method, path,
             GST_STR_NULL (soup_server_message_get_remote_host (msg)));
  add_cors_headers (msg);

  if (!strcmp (path, "/") || !strcmp (path, "/index.html")) {
    if (get) {
      const char *page = gw_player_page_html ();
      soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Cache-Control",
                                    "no-cache");
      soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
      soup_server_message_set_response (msg, "text/html; charset=utf-8", SOUP_MEMORY_STATIC, page,
                                        strlen (page));
    } else if (options) {
      respond_preflight (msg, "GET, HEAD, OPTIONS", FALSE);
    } else {
      respond_not_allowed (msg, "GET, HEAD, OPTIONS");
    }
  } else if (!strcmp (path, "/whep")) {
    if (!strcmp (method, "POST"))
      handle_post (self, msg);
    else if (options)
      respond_preflight (msg, "POST, OPTIONS", TRUE);
    else
      respond_not_allowed (msg, "POST, OPTIONS");
  } else if (g_str_has_prefix (path, "/whep/") && path[6] && !strchr (path + 6, '/')) {
    handle_session (self, msg, method, path + 6);
  } else {
    gw_whep_respond (msg, SOUP_STATUS_NOT_FOUND, "not found (the player is at /, WHEP at /whep)");
  }
}

/* ------------------------------------------------------------ lifecycle */

static gpointer
thread_func (gpointer data)
{
  ThreadData *td = static_cast<ThreadData *> (data);
  g_main_context_push_thread_default (td->context);
  g_main_loop_run (td->loop);
  g_main_context_pop_thread_default (td->context);
  g_main_loop_unref (td->loop);
  g_main_context_unref (td->context);
  delete td;
  return NULL;
}

GwWhepServer *
gw_whep_server_new (const gchar *address, guint port, const GwWhepHandlers *handlers,
                    gpointer user_data, GError **error)
{
  static gsize once = 0;
  if (g_once_init_enter (&once)) {
    GST_DEBUG_CATEGORY_INIT (gw_whep_server_debug, "gwwhepserver", 0,
                             "gwsink's embedded HTTP (WHEP) server");
    g_once_init_leave (&once, 1);
  }

  g_autoptr (GInetAddress) inet = g_inet_address_new_from_string (address ? address : "");
  if (!inet) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                 "address \"%s\" is not an IP address (use e.g. 0.0.0.0, 127.0.0.1 or ::)",
                 GST_STR_NULL (address));
    return NULL;
  }
  g_autoptr (GSocketAddress) sockaddr = g_inet_socket_address_new (inet, port);

  GwWhepServer *self = g_new0 (GwWhepServer, 1);
  self->handlers = *handlers;
  self->user_data = user_data;
  self->context = g_main_context_new ();
  g_main_context_push_thread_default (self->context);
  self->server = soup_server_new ("server-header", "gwsink", NULL);
  soup_server_add_early_handler (self->server, NULL, on_early_request, self, NULL);
  soup_server_add_handler (self->server, NULL, on_request, self, NULL);
  gboolean ok = soup_server_listen (self->server, sockaddr, (SoupServerListenOptions)0, error);
  if (ok) {
    GSList *listeners = soup_server_get_listeners (self->server);
    for (GSList *l = listeners; l && !self->port; l = l->next) {
      g_autoptr (GSocketAddress) local = g_socket_get_local_address (G_SOCKET (l->data), NULL);
      if (local && G_IS_INET_SOCKET_ADDRESS (local))
        self->port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (local));
    }
    g_slist_free (listeners);
  }
  g_main_context_pop_thread_default (self->context);
  if (!ok) {
    gw_whep_server_free (self);
    return NULL;
  }

  self->loop = g_main_loop_new (self->context, FALSE);
  ThreadData *td
      = new ThreadData{ g_main_context_ref (self->context), g_main_loop_ref (self->loop) };
  self->thread = g_thread_new ("gwsink-http", thread_func, td);
  return self;
}

guint
gw_whep_server_get_port (GwWhepServer *self)
{
  return self->port;
}

GSource *
gw_whep_server_schedule (GwWhepServer *self, guint delay_ms, GSourceFunc func, gpointer data,
                         GDestroyNotify notify)
{
  GSource *src = delay_ms ? g_timeout_source_new (delay_ms) : g_idle_source_new ();
  g_source_set_callback (src, func, data, notify);
  g_source_attach (src, self->context);
  return src;
}

void
gw_whep_server_stop (GwWhepServer *self)
{
  if (!self->thread)
    return;
  g_main_loop_quit (self->loop);
  if (g_thread_self () == self->thread) {
    g_thread_unref (self->thread); /* on our own thread: it ends after this */
    self->thread_detached = TRUE;
  } else
    g_thread_join (self->thread);
  self->thread = NULL;
}

void
gw_whep_server_free (GwWhepServer *self)
{
  if (!self)
    return;
  gw_whep_server_stop (self);
  if (self->server) {
    g_main_context_push_thread_default (self->context);
    soup_server_disconnect (self->server);
    g_clear_object (&self->server);
    /* Let the connections finish closing (bounded: their close operations
     * complete at once on sockets that are already shut). */
    if (!self->thread_detached)
      for (int i = 0; i < 1000 && g_main_context_iteration (self->context, FALSE); i++)
        ;
    g_main_context_pop_thread_default (self->context);
  }
  g_clear_pointer (&self->loop, g_main_loop_unref);
  /* Drops the sources still attached (their notify runs). */
  g_clear_pointer (&self->context, g_main_context_unref);
  g_free (self);
}
