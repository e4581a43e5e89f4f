/* gwreaderice: what a gwreaderbin asks of webrtcbin's ICE agent: the
 * settings it is given before negotiation (STUN/TURN servers, ports, local
 * addresses, libnice options) and, once connected, the socket and remote
 * address of the selected pair, for the shared sender. Calls nothing else of
 * the reader. Declarations and locking rules in gwreaderbin-private.h.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gwreaderbin-private.h"

#include <nice/agent.h>
#include <sys/socket.h>

void
gw_reader_bin_apply_ice_config (GwReaderBin *self)
{
  GST_OBJECT_LOCK (self);
  g_autofree gchar *stun = g_strdup (self->stun_server);
  g_autofree gchar *turns = g_strdup (self->turn_servers);
  g_autofree gchar *addrs = g_strdup (self->ice_addresses);
  guint min_port = self->min_port, max_port = self->max_port;
  GST_OBJECT_UNLOCK (self);

  if (stun && *stun)
    g_object_set (self->webrtcbin, "stun-server", stun, NULL);
  if (turns && *turns) {
    g_auto (GStrv) list = g_strsplit (turns, ",", -1);
    for (guint i = 0; list[i]; i++) {
      gchar *url = g_strstrip (list[i]);
      gboolean ok = FALSE;
      if (*url)
        g_signal_emit_by_name (self->webrtcbin, "add-turn-server", url, &ok);
      if (*url && !ok)
        GST_WARNING_OBJECT (self, "TURN server %u not accepted", i);
    }
  }

  GstObject *ice = NULL;
  g_object_get (self->webrtcbin, "ice-agent", &ice, NULL);
  if (!ice)
    return;
  /* Browsers reach us over UDP; ICE-TCP only costs sockets. */
  if (g_object_class_find_property (G_OBJECT_GET_CLASS (ice), "ice-tcp"))
    g_object_set (ice, "ice-tcp", FALSE, NULL);
  /* libnice built with UPnP IGD support asks the LAN's router for a port
   * mapping and holds "gathering done" back for up to 200 ms waiting for it:
   * a server has no use for that, and every viewer's answer would wait. */
  GObject *agent = NULL;
  if (g_object_class_find_property (G_OBJECT_GET_CLASS (ice), "agent"))
    g_object_get (ice, "agent", &agent, NULL);
  if (agent && g_object_class_find_property (G_OBJECT_GET_CLASS (agent), "upnp"))
    g_object_set (agent, "upnp", FALSE, NULL);
  /* A viewer that vanishes without a word (closed laptop, killed browser)
   * must end: with keepalive connectivity checks libnice notices the peer
   * stopped answering and the connection fails (about 50 s); without them
   * it stays "connected" for ever. */
  if (agent && g_object_class_find_property (G_OBJECT_GET_CLASS (agent), "keepalive-conncheck"))
    g_object_set (agent, "keepalive-conncheck", TRUE, NULL);
  g_clear_object (&agent);
  if (max_port && max_port >= min_port)
    g_object_set (ice, "max-rtp-port", max_port, "min-rtp-port", min_port, NULL);
  else if (min_port)
    g_object_set (ice, "min-rtp-port", min_port, NULL);
  if (addrs && *addrs) {
    g_auto (GStrv) list = g_strsplit (addrs, ",", -1);
    for (guint i = 0; list[i]; i++) {
      gchar *a = g_strstrip (list[i]);
      gboolean ok = FALSE;
      if (!*a)
        continue;
      g_signal_emit_by_name (ice, "add-local-ip-address", a, &ok);
      if (!ok)
        GST_WARNING_OBJECT (self, "ICE address %s not usable", a);
    }
  }
  gst_object_unref (ice);
}

gboolean
gw_reader_bin_selected_pair (GwReaderBin *self, GstPad *webrtc_pad, int *fd,
                             struct sockaddr_storage *remote, guint *remote_len, GError **error)
{
  /* webrtcbin sink pad -> transceiver -> sender -> DTLS -> ICE transport ->
   * nice stream id; the agent from the ICE object. */
  g_autoptr (GstWebRTCRTPTransceiver) trans = NULL;
  g_object_get (webrtc_pad, "transceiver", &trans, NULL);
  g_autoptr (GstWebRTCRTPSender) sender = NULL;
  if (trans)
    g_object_get (trans, "sender", &sender, NULL);
  g_autoptr (GstWebRTCDTLSTransport) dtls = NULL;
  if (sender)
    g_object_get (sender, "transport", &dtls, NULL);
  g_autoptr (GstWebRTCICETransport) icet = NULL;
  if (dtls)
    g_object_get (dtls, "transport", &icet, NULL);
  GObject *stream = NULL;
  if (icet && g_object_class_find_property (G_OBJECT_GET_CLASS (icet), "stream"))
    g_object_get (icet, "stream", &stream, NULL);
  guint stream_id = 0;
  if (stream)
    g_object_get (stream, "stream-id", &stream_id, NULL);
  g_clear_object (&stream);
  GObject *ice = NULL, *agent = NULL;
  g_object_get (self->webrtcbin, "ice-agent", &ice, NULL);
  if (ice && g_object_class_find_property (G_OBJECT_GET_CLASS (ice), "agent"))
    g_object_get (ice, "agent", &agent, NULL);
  g_clear_object (&ice);

  gboolean ok = FALSE;
  if (agent && stream_id) {
    NiceAgent *na = NICE_AGENT (agent);
    NiceCandidate *local = NULL, *remote_cand = NULL;
    GSocket *sock = nice_agent_get_selected_socket (na, stream_id, 1);
    if (sock && nice_agent_get_selected_pair (na, stream_id, 1, &local, &remote_cand) && remote_cand
        && local && local->type != NICE_CANDIDATE_TYPE_RELAYED) {
      nice_address_copy_to_sockaddr (&remote_cand->addr, (struct sockaddr *)remote);
      *remote_len = remote->ss_family == AF_INET6 ? sizeof (struct sockaddr_in6)
                                                  : sizeof (struct sockaddr_in);
      *fd = g_socket_get_fd (sock);
      ok = *fd >= 0;
    }
    g_clear_object (&sock);
  }
  g_clear_object (&agent);
  if (!ok)
    g_set_error (error, GW_READER_ERROR, GW_READER_ERROR_STATE,
                 "no directly usable ICE socket (relayed, or none selected)");
  return ok;
}
