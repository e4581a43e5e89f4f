/* GwWhepServer: gwsink's embedded HTTP endpoint, on its own thread.
 *
 * A libsoup server running on a GMainContext + GMainLoop in a thread it owns,
 * so it works in applications that run no main loop. It serves the player
 * page and the WHEP routes, and does all the HTTP checking; the sessions
 * themselves are the caller's, reached through GwWhepHandlers, which are
 * called on the server thread:
 *
 *   GET|HEAD /           the player page (gwplayerpage.h)
 *   POST /whep           Content-Type application/sdp (else 415), a non-empty
 *                        text body (else 400) of at most 64 KiB (else 413)
 *                        -> handlers.offer, which answers or pauses the message
 *   PATCH /whep/<id>     application/trickle-ice-sdpfrag (else 415)
 *                        -> handlers.trickle: 204, or 404 for an unknown id
 *   DELETE /whep/<id>    -> handlers.remove: 200, or 404 for an unknown id
 *   OPTIONS              204 with CORS headers
 *   anything else        404 or 405, with a short reason
 * Every answer carries Access-Control-Allow-Origin: * and exposes Location.
 */
#pragma once

#include <gio/gio.h>
#include <libsoup/soup.h>

G_BEGIN_DECLS

typedef struct _GwWhepServer GwWhepServer;

/* One candidate line of a trickle fragment (RFC 8840). */
typedef struct
{
  /* Index of the fragment's m= section it follows (-1: before any). */
  gint section;
  /* The a=mid of that section, or NULL. */
  const gchar *mid;
  /* "candidate:..." (without "a="), or "" for a=end-of-candidates. */
  const gchar *candidate;
} GwTrickleCandidate;

typedef struct
{
  /* An offer to answer: respond to @msg now, or soup_server_message_pause()
   * it and respond later on the server thread (gw_whep_server_schedule). */
  void (*offer) (gpointer user_data, SoupServerMessage *msg, const gchar *sdp);
  /* Returns FALSE if there is no session @id. */
  gboolean (*trickle) (gpointer user_data, const gchar *id, const GwTrickleCandidate *candidates,
                       guint n_candidates);
  /* Ends session @id; returns FALSE if there is none. */
  gboolean (*remove) (gpointer user_data, const gchar *id);
} GwWhepHandlers;

/* Error domain: G_IO_ERROR. G_IO_ERROR_INVALID_ARGUMENT for an @address that
 * is not an IP address; otherwise why listening failed (port in use...). */
GwWhepServer *gw_whep_server_new (const gchar *address, guint port, const GwWhepHandlers *handlers,
                                  gpointer user_data, GError **error);

/* The TCP port listened on (the chosen one when asked for port 0). */
guint gw_whep_server_get_port (GwWhepServer *server);

/* Runs @func on the server thread, after @delay_ms (0: soon). Thread-safe.
 * Returns a new ref on the attached source (for g_source_destroy). After
 * gw_whep_server_stop the source never runs; @notify runs at
 * gw_whep_server_free at the latest. */
GSource *gw_whep_server_schedule (GwWhepServer *server, guint delay_ms, GSourceFunc func,
                                  gpointer data, GDestroyNotify notify);

/* Ends the server thread (waits for it, unless called on it); no handler
 * runs afterwards. Idempotent. */
void gw_whep_server_stop (GwWhepServer *server);

/* Stops, closes every connection and frees. */
void gw_whep_server_free (GwWhepServer *server);

/* A POST /whep held open (paused) until its answer is known. Server thread
 * only. */
typedef struct _GwWhepPending GwWhepPending;

/* Pauses @msg. @gone (may be NULL) is called with @data if the client goes
 * away before the answer; the pending answer stays to be freed. */
GwWhepPending *gw_whep_pending_new (SoupServerMessage *msg, void (*gone) (gpointer data),
                                    gpointer data);

/* Answers 201 Created, Content-Type application/sdp, body @sdp, Location
 * /whep/@id, and frees @pending. Nothing is sent if the client is gone. */
void gw_whep_pending_answer (GwWhepPending *pending, const gchar *id, const gchar *sdp);

/* Answers @status with @text (as gw_whep_respond) and frees @pending. */
void gw_whep_pending_fail (GwWhepPending *pending, guint status, const gchar *text);

/* Frees @pending without answering (the server is going away). */
void gw_whep_pending_free (GwWhepPending *pending);

/* A new random, unguessable session id (32 hex digits). */
gchar *gw_whep_new_session_id (void);

/* Sets @status and, if @text, a text/plain body (@text and a newline). */
void gw_whep_respond (SoupServerMessage *msg, guint status, const gchar *text);

/* Parses a trickle-ice-sdpfrag body into @out (pointers into @parsed_lines,
 * which the caller frees with g_strfreev). */
GArray *gw_whep_parse_trickle (const gchar *fragment, gchar ***parsed_lines);

G_END_DECLS
