#include "wsproto.h"

#include "gwwhep.h"

#include <json-glib/json-glib.h>
#include <string.h>

namespace gw {
namespace wsproto {

namespace {

const char *const STATES[]
    = { "new", "connecting", "connected", "disconnected", "failed", "closed", NULL };

/* The member @name of @obj as a string; false with @error if it is missing
 * or not a string. */
bool
get_string (JsonObject *obj, const char *type, const char *name, std::string &out,
            std::string &error)
{
  JsonNode *node = json_object_get_member (obj, name);
  if (!node) {
    error = std::string ("\"") + type + "\" message without \"" + name + "\"";
    return false;
  }
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING) {
    error = std::string ("\"") + name + "\" must be a string";
    return false;
  }
  const char *v = json_node_get_string (node);
  /* json-glib 1.6 takes octal escapes ("\\264"), which can make bytes that
   * are not UTF-8. */
  if (!g_utf8_validate (v, -1, NULL)) {
    error = std::string ("\"") + name + "\" is not UTF-8 text";
    return false;
  }
  out = v;
  return true;
}

/* The member @name of @obj as a whole number in [@min, @max]. */
bool
get_uint (JsonObject *obj, const char *type, const char *name, guint min, guint max, guint &out,
          std::string &error)
{
  JsonNode *node = json_object_get_member (obj, name);
  if (!node) {
    error = std::string ("\"") + type + "\" message without \"" + name + "\"";
    return false;
  }
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_INT64) {
    error = std::string ("\"") + name + "\" must be a whole number";
    return false;
  }
  gint64 v = json_node_get_int (node);
  if (v < (gint64)min || v > (gint64)max) {
    error = std::string ("\"") + name + "\" is out of range (" + std::to_string (min) + " to "
            + std::to_string (max) + ")";
    return false;
  }
  out = (guint)v;
  return true;
}

bool
check_sdp (const std::string &sdp, std::string &error)
{
  if (sdp.empty ()) {
    error = "\"sdp\" is empty";
    return false;
  }
  if (sdp.compare (0, 2, "v=") != 0) {
    error = "\"sdp\" is not an SDP description (it must start with \"v=\")";
    return false;
  }
  return true;
}

bool
check_candidate (const std::string &c, std::string &error)
{
  if (c.empty ())
    return true; /* end of candidates */
  if (c.compare (0, 10, "candidate:") != 0 && c.compare (0, 12, "a=candidate:") != 0) {
    error = "\"candidate\" must start with \"candidate:\" (or be empty for the end of "
            "candidates)";
    return false;
  }
  if (c.find_first_of ("\r\n") != std::string::npos) {
    error = "\"candidate\" must be a single line";
    return false;
  }
  std::string why;
  if (!check_candidate_line (c, why)) {
    error = "\"candidate\" is not an ICE candidate: " + why;
    return false;
  }
  return true;
}

} // namespace

bool
check_candidate_line (const std::string &line, std::string &error)
{
  return whep::check_candidate_line (line, error);
}

Message
Message::offer (std::string sdp)
{
  Message m;
  m.type = Type::Offer;
  m.sdp = std::move (sdp);
  return m;
}

Message
Message::answer (std::string sdp)
{
  Message m;
  m.type = Type::Answer;
  m.sdp = std::move (sdp);
  return m;
}

Message
Message::make_candidate (guint mline, std::string candidate)
{
  Message m;
  m.type = Type::Candidate;
  m.mline = mline;
  m.candidate = std::move (candidate);
  return m;
}

Message
Message::make_state (std::string state)
{
  Message m;
  m.type = Type::State;
  m.state = std::move (state);
  return m;
}

Message
Message::error (guint status, std::string reason)
{
  Message m;
  m.type = Type::Error;
  m.status = status;
  m.reason = std::move (reason);
  return m;
}

Message
Message::close ()
{
  return Message ();
}

const char *
type_name (Type type)
{
  switch (type) {
  case Type::Offer:
    return "offer";
  case Type::Answer:
    return "answer";
  case Type::Candidate:
    return "candidate";
  case Type::State:
    return "state";
  case Type::Error:
    return "error";
  case Type::Close:
    return "close";
  }
  return "unknown";
}

bool
parse (const char *data, gsize len, Message &out, std::string &error)
{
  if (!data || len == 0) {
    error = "empty message";
    return false;
  }
  if (len > MAX_FRAME_SIZE) {
    error = "message too large (" + std::to_string (len) + " bytes; at most "
            + std::to_string (MAX_FRAME_SIZE) + ")";
    return false;
  }
  /* Also rejects NUL bytes, which JSON text never holds raw. */
  if (!g_utf8_validate (data, (gssize)len, NULL)) {
    error = "message is not UTF-8 text";
    return false;
  }

  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) err = NULL;
  if (!json_parser_load_from_data (parser, data, (gssize)len, &err)) {
    error = std::string ("invalid JSON: ") + (err ? err->message : "parse error");
    return false;
  }
  JsonNode *root = json_parser_get_root (parser);
  if (!root || !JSON_NODE_HOLDS_OBJECT (root)) {
    error = "message is not a JSON object";
    return false;
  }
  JsonObject *obj = json_node_get_object (root);

  std::string type;
  JsonNode *tnode = json_object_get_member (obj, "type");
  if (!tnode) {
    error = "message without \"type\"";
    return false;
  }
  if (!JSON_NODE_HOLDS_VALUE (tnode) || json_node_get_value_type (tnode) != G_TYPE_STRING) {
    error = "\"type\" must be a string";
    return false;
  }
  type = json_node_get_string (tnode);
  if (!g_utf8_validate (type.c_str (), -1, NULL)) {
    error = "\"type\" is not UTF-8 text";
    return false;
  }

  Message m;
  const char *t = type.c_str ();
  if (type == "offer" || type == "answer") {
    m.type = type == "offer" ? Type::Offer : Type::Answer;
    if (!get_string (obj, t, "sdp", m.sdp, error) || !check_sdp (m.sdp, error))
      return false;
  } else if (type == "candidate") {
    m.type = Type::Candidate;
    if (!get_uint (obj, t, "mline", 0, MAX_MLINE, m.mline, error)
        || !get_string (obj, t, "candidate", m.candidate, error)
        || !check_candidate (m.candidate, error))
      return false;
  } else if (type == "state") {
    m.type = Type::State;
    if (!get_string (obj, t, "state", m.state, error))
      return false;
    if (!g_strv_contains (STATES, m.state.c_str ())) {
      error = "unknown state \"" + m.state + "\"";
      return false;
    }
  } else if (type == "error") {
    m.type = Type::Error;
    if (!get_uint (obj, t, "status", 100, 599, m.status, error)
        || !get_string (obj, t, "reason", m.reason, error))
      return false;
  } else if (type == "close") {
    m.type = Type::Close;
  } else {
    /* Bounded, so a huge type name does not make a huge error. */
    std::string shown = type.size () > 32 ? type.substr (0, 32) + "..." : type;
    g_autofree gchar *esc = g_strescape (shown.c_str (), NULL);
    error = std::string ("unknown message type \"") + esc + "\"";
    return false;
  }
  out = std::move (m);
  return true;
}

std::string
serialise (const Message &msg)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "type");
  json_builder_add_string_value (b, type_name (msg.type));
  switch (msg.type) {
  case Type::Offer:
  case Type::Answer:
    json_builder_set_member_name (b, "sdp");
    json_builder_add_string_value (b, msg.sdp.c_str ());
    break;
  case Type::Candidate:
    json_builder_set_member_name (b, "mline");
    json_builder_add_int_value (b, msg.mline);
    json_builder_set_member_name (b, "candidate");
    json_builder_add_string_value (b, msg.candidate.c_str ());
    break;
  case Type::State:
    json_builder_set_member_name (b, "state");
    json_builder_add_string_value (b, msg.state.c_str ());
    break;
  case Type::Error:
    json_builder_set_member_name (b, "status");
    json_builder_add_int_value (b, msg.status);
    json_builder_set_member_name (b, "reason");
    json_builder_add_string_value (b, msg.reason.c_str ());
    break;
  case Type::Close:
    break;
  }
  json_builder_end_object (b);

  g_autoptr (JsonNode) root = json_builder_get_root (b);
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  json_generator_set_root (gen, root);
  g_autofree gchar *text = json_generator_to_data (gen, NULL);
  return text ? text : "{}";
}

} // namespace wsproto
} // namespace gw
