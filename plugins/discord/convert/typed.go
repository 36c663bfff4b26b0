package convert

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/relayhost/relay-host/pluginapi"
)

// This file is the typed path of the conversion: the body is decoded in one
// pass straight into the few fields the conversion reads (interaction
// below), every other member is skipped with a validating skip, and the
// rules of convert.go, command.go, component.go and modal.go are applied to
// those fields. Lists whose length varies (options, select values, modal
// components, resolved objects) are kept as their text and scanned again
// when the rules walk them, so the typed path allocates little besides its
// output (a string with escapes is the exception: it is unescaped into a
// copy). A part nested k levels deep in a walked list is scanned at most k+1
// times; MaxDepth bounds k, so the work stays linear in the body.
//
// It keeps every guarantee of the generic path (decode into map[string]any,
// then walk): the same inputs are rejected with the same reasons, the last
// of duplicate keys wins (a repeated key resets the whole field), numbers
// render exactly as written. Where it cannot decide — a body that is not an
// object, or an object or array where the rules render a scalar (the
// generic path prints compact JSON with sorted keys) — it gives up and the
// generic path converts the body. FuzzTypedMatchesGeneric checks that both
// paths give the same result for every input, and TestTypedPathDecidesGoldens
// that every golden object is converted on the typed path.

// interaction holds the members of an interaction body the conversion reads.
// A field that repeats is reset before the later value is decoded, so the
// last one wins, as in the generic path.
type interaction struct {
	hasToken  bool // a top-level "token" key, whatever its value
	typ       jvalue
	id        jvalue
	channelID jvalue
	guildID   jvalue
	channel   channelObj
	member    memberObj
	user      userObj
	message   messageObj
	data      dataObj
}

// userObj is a user object: member.user or the top-level user.
type userObj struct {
	v                        jvalue
	id, globalName, username jvalue
}

// memberObj is the guild member object.
type memberObj struct {
	v    jvalue
	nick jvalue
	user userObj
}

// channelObj is the partial channel object.
type channelObj struct {
	v, typ, parentID jvalue
}

// messageObj is the message a component was attached to.
type messageObj struct {
	v, id jvalue
}

// dataObj is the interaction data, for every interaction type.
type dataObj struct {
	v                   jvalue
	name, typ, targetID jvalue // commands
	options, resolved   jvalue // commands (resolved also for modal uploads); kept as text
	customID            jvalue // components and modals
	componentType       jvalue // components
	values, components  jvalue // components, modals; kept as text
}

// interaction decodes the top-level object at d.i into in.
func (d *decoder) interaction(in *interaction) bool {
	for first := true; ; first = false {
		key, end, ok := d.nextMember(first)
		if !ok || end {
			return ok
		}
		switch string(key) {
		case "token":
			in.hasToken = true
			ok = d.skipValue()
		case "type":
			ok = d.scalar(&in.typ)
		case "id":
			ok = d.scalar(&in.id)
		case "channel_id":
			ok = d.scalar(&in.channelID)
		case "guild_id":
			ok = d.scalar(&in.guildID)
		case "channel":
			c := &in.channel
			*c = channelObj{}
			ok = d.fields(&c.v, []string{"type", "parent_id"}, []*jvalue{&c.typ, &c.parentID})
		case "member":
			ok = d.memberObj(&in.member)
		case "user":
			ok = d.userObj(&in.user)
		case "message":
			m := &in.message
			*m = messageObj{}
			ok = d.fields(&m.v, []string{"id"}, []*jvalue{&m.id})
		case "data":
			ok = d.dataObj(&in.data)
		default:
			ok = d.skipValue()
		}
		if !ok {
			return false
		}
	}
}

// userObj decodes a user object (or whatever stands in its place) into u.
func (d *decoder) userObj(u *userObj) bool {
	*u = userObj{}
	return d.fields(&u.v, []string{"id", "global_name", "username"}, []*jvalue{&u.id, &u.globalName, &u.username})
}

// memberObj decodes a guild member object (or whatever stands in its place)
// into m.
func (d *decoder) memberObj(m *memberObj) bool {
	*m = memberObj{}
	if !d.atObject() {
		return d.scalar(&m.v)
	}
	start := d.i
	for first := true; ; first = false {
		key, end, ok := d.nextMember(first)
		if !ok {
			return false
		}
		if end {
			break
		}
		m.v.nonEmpty = true
		switch string(key) {
		case "nick":
			ok = d.scalar(&m.nick)
		case "user":
			ok = d.userObj(&m.user)
		default:
			ok = d.skipValue()
		}
		if !ok {
			return false
		}
	}
	m.v.kind, m.v.raw = jObject, d.b[start:d.i]
	return true
}

// dataObj decodes the interaction data (or whatever stands in its place)
// into o.
func (d *decoder) dataObj(o *dataObj) bool {
	*o = dataObj{}
	return d.fields(&o.v,
		[]string{"name", "type", "target_id", "options", "resolved", "custom_id", "component_type", "values", "components"},
		[]*jvalue{&o.name, &o.typ, &o.targetID, &o.options, &o.resolved, &o.customID, &o.componentType, &o.values, &o.components})
}

// convertTyped is the typed path of ConvertDetailed. decided is false when
// the generic path must convert the body instead (see the top of this
// file); the result is then meaningless.
func convertTyped(f pluginapi.Forward) (res pluginapi.Result, det Details, decided bool) {
	if reason := checkBody(f.Body); reason != "" {
		return pluginapi.Reject(reason), det, true
	}
	d := decoder{b: f.Body}
	d.space()
	if d.i == len(d.b) {
		return pluginapi.Reject(describeDecodeError(f.Body, &decodeError{kind: errEmpty, offset: d.i})), det, true
	}
	if d.b[d.i] != '{' {
		return res, det, false // not an object: the generic path names what it is
	}
	var in interaction
	if !d.interaction(&in) {
		return pluginapi.Reject(describeDecodeError(f.Body, &d.err)), det, true
	}
	d.space()
	if d.i < len(d.b) {
		return pluginapi.Reject(describeDecodeError(f.Body, &decodeError{kind: errTrailing, offset: d.i})), det, true
	}
	det.TokenStripped = in.hasToken
	var c typedConv
	res = c.convert(&in, f.Profile)
	if c.undecided {
		return res, det, false
	}
	return res, det, true
}

// typedConv applies the conversion rules to a typed interaction.
type typedConv struct {
	b builder
	// undecided is set when the rules met a value the typed path does not
	// render (an object or array where a scalar belongs).
	undecided bool
}

// convert mirrors convertInteraction.
func (c *typedConv) convert(in *interaction, profile string) pluginapi.Result {
	typ, typed := in.typ.smallInt()
	if !typed {
		typ = 0
	}
	switch typ {
	case typePing:
		return pluginapi.Drop("PING interaction (type 1): nothing for the agent; the connector answers PINGs at its edge")
	case typeAutocomplete:
		return pluginapi.Drop("AUTOCOMPLETE interaction (type 4): nothing for the agent; autocomplete cannot be answered through the relay")
	}

	var data *dataObj
	if in.data.v.truthy() {
		if in.data.v.kind == jObject {
			data = &in.data
		} else if typ == typeApplicationCommand || typ == typeMessageComponent || typ == typeModalSubmit {
			return pluginapi.Reject(fmt.Sprintf("interaction data is a JSON %s, not an object (interaction type %d)", in.data.v.kindName(), typ))
		}
	}
	if data == nil {
		data = new(dataObj) // a falsy or (other types) non-object data reads as empty
	}

	c.b = builder{ev: pluginapi.MessageEvent{MessageType: pluginapi.MessageTypeText}}
	c.b.ev.Source = c.source(in, profile)
	if id := c.truthyString(in.id); id != "" {
		c.b.ev.MessageID = id
		c.b.setMeta(MetaInteractionID, id)
	}
	switch typ {
	case typeApplicationCommand:
		c.command(data)
	case typeMessageComponent:
		c.component(data)
	case typeModalSubmit:
		c.modal(data)
	}
	c.b.ev.Metadata = c.b.meta
	c.b.ev.SessionKey = pluginapi.SessionKey(c.b.ev.Source)
	c.b.ev.EgressKind = pluginapi.EgressDiscordInteractionToken
	return pluginapi.Handle(c.b.ev)
}

// source mirrors source.
func (c *typedConv) source(in *interaction, profile string) pluginapi.SessionSource {
	src := pluginapi.SessionSource{
		Platform:                  Platform,
		ChatID:                    c.truthyString(in.channelID),
		ChatType:                  pluginapi.ChatTypeDM,
		Profile:                   profile,
		DeliveredViaUpstreamRelay: true,
	}
	if in.message.v.kind == jObject {
		src.MessageID = c.truthyString(in.message.id)
	}
	inGuild := in.guildID.truthy()
	switch {
	case inGuild && in.channel.v.kind == jObject && in.channel.typ.isNumber(10, 11, 12):
		src.ChatType = pluginapi.ChatTypeThread
		src.ThreadID = src.ChatID
		src.ParentChatID = c.truthyString(in.channel.parentID)
	case inGuild:
		src.ChatType = pluginapi.ChatTypeGroup
	}
	if inGuild {
		src.ScopeID = c.renderString(in.guildID)
	}

	var nick jvalue
	user := &in.user
	if in.member.v.kind == jObject {
		nick = in.member.nick
		if in.member.user.v.truthy() {
			user = &in.member.user
		}
	}
	if user.v.kind != jObject {
		user = &userObj{} // a non-object user counts as empty
	}
	src.UserID = c.truthyString(user.id)
	if inGuild {
		src.UserName = c.firstTruthy(nick, user.globalName, user.username)
	} else {
		src.UserName = c.firstTruthy(user.globalName, user.username)
	}
	return src
}

// render is render of value.go as bytes: strings and numbers as they are,
// booleans true/false, null (and absent) as nothing. An object or array
// makes the conversion undecided.
func (c *typedConv) render(v jvalue) []byte {
	switch v.kind {
	case jString, jNumber:
		return v.raw
	case jTrue:
		return []byte("true")
	case jFalse:
		return []byte("false")
	case jObject, jArray:
		c.undecided = true
	}
	return nil
}

// renderString is render as a string.
func (c *typedConv) renderString(v jvalue) string {
	switch v.kind {
	case jTrue:
		return "true"
	case jFalse:
		return "false"
	}
	return string(c.render(v))
}

// truthyBytes is truthyString as bytes.
func (c *typedConv) truthyBytes(v jvalue) []byte {
	if !v.truthy() {
		return nil
	}
	return c.render(v)
}

// truthyString mirrors truthyString.
func (c *typedConv) truthyString(v jvalue) string {
	if !v.truthy() {
		return ""
	}
	return c.renderString(v)
}

// firstTruthy mirrors firstTruthy.
func (c *typedConv) firstTruthy(vs ...jvalue) string {
	for _, v := range vs {
		if v.truthy() {
			return c.renderString(v)
		}
	}
	return ""
}

// pyStripBytes is pyStrip for bytes.
func pyStripBytes(b []byte) []byte {
	return bytes.TrimFunc(b, isPySpace)
}

// scan returns a decoder over the text of an object or array the first pass
// has already validated. Scanning it again cannot fail; if it did anyway,
// the conversion would be undecided (see typedConv.scanFailed).
func scan(v jvalue) decoder {
	return decoder{b: v.raw}
}

// scanFailed marks the conversion undecided after a scan error and returns
// false, to end the loop it is called from.
func (c *typedConv) scanFailed() bool {
	c.undecided = true
	return false
}

// fieldsOf decodes the members of the object v named in keys into dst (see
// decoder.fields); a v that is not an object leaves them absent.
func (c *typedConv) fieldsOf(v jvalue, keys []string, dst []*jvalue) {
	if v.kind != jObject {
		return
	}
	d := scan(v)
	var self jvalue
	if !d.fields(&self, keys, dst) {
		c.scanFailed()
	}
}

// lookup returns the member key of the object v (the last one when the key
// repeats), or an absent value.
func (c *typedConv) lookup(v jvalue, key []byte) jvalue {
	var found jvalue
	if v.kind != jObject {
		return found
	}
	d := scan(v)
	for first := true; ; first = false {
		k, end, ok := d.nextMember(first)
		if !ok {
			c.scanFailed()
			return jvalue{}
		}
		if end {
			return found
		}
		if bytes.Equal(k, key) {
			ok = d.scalar(&found)
		} else {
			ok = d.skipValue()
		}
		if !ok {
			c.scanFailed()
			return jvalue{}
		}
	}
}

// elements returns a decoder positioned to step through the array v with
// nextElement, or ok false when v is not an array.
func elements(v jvalue) (d decoder, ok bool) {
	return scan(v), v.kind == jArray
}

// command mirrors builder.command.
func (c *typedConv) command(data *dataObj) {
	var scratch [256]byte
	text := append(scratch[:0], '/')
	text = append(text, c.truthyBytes(data.name)...)
	text = bytes.TrimRight(text, "/")
	if len(text) == 0 {
		return // unnamed command: empty text event
	}
	text = c.options(data, data.options, text, 1)

	if kind, _ := data.typ.smallInt(); kind == commandUser || kind == commandMessage {
		target := pyStripBytes(c.truthyBytes(data.targetID))
		if len(target) > 0 {
			text = append(append(text, ' '), target...)
			if kind == commandMessage {
				c.replyTo(data, target)
			}
		}
	}

	c.b.ev.Text = string(pyStripBytes(text))
	c.b.ev.MessageType = pluginapi.MessageTypeCommand
}

// option is one entry of an options array.
type option struct {
	v, typ, name, value, options jvalue
}

// options mirrors builder.options, appending " part" to text for every part.
func (c *typedConv) options(data *dataObj, list jvalue, text []byte, depth int) []byte {
	d, isList := elements(list)
	if !isList || depth > MaxDepth {
		return text
	}
	for first := true; ; first = false {
		end, ok := d.nextElement(first)
		if !ok {
			c.scanFailed()
			return text
		}
		if end {
			return text
		}
		var o option
		if !d.fields(&o.v, []string{"type", "name", "value", "options"}, []*jvalue{&o.typ, &o.name, &o.value, &o.options}) {
			c.scanFailed()
			return text
		}
		if o.v.kind != jObject {
			continue
		}
		if o.typ.isNumber(optionSubCommand, optionSubCommandGroup) {
			if name := pyStripBytes(c.render(o.name)); len(name) > 0 {
				text = append(append(text, ' '), name...)
			}
			text = c.options(data, o.options, text, depth+1)
			continue
		}
		if o.value.isNull() {
			continue
		}
		s := pyStripBytes(c.render(o.value))
		if len(s) == 0 {
			continue
		}
		if o.typ.isNumber(optionAttachment) {
			s = c.attachment(data, s)
		}
		text = append(append(text, ' '), s...)
	}
}

// attachment mirrors builder.attachment, returning the display text.
func (c *typedConv) attachment(data *dataObj, id []byte) []byte {
	att := c.lookup(c.lookup(data.resolved, []byte("attachments")), id)
	if att.kind != jObject {
		return id
	}
	var url, contentType, filename jvalue
	c.fieldsOf(att, []string{"url", "content_type", "filename"}, []*jvalue{&url, &contentType, &filename})
	if u := c.truthyString(url); u != "" {
		c.b.addMedia(u, c.truthyString(contentType))
	}
	if name := pyStripBytes(c.truthyBytes(filename)); len(name) > 0 {
		return name
	}
	return id
}

// replyTo mirrors builder.replyTo.
func (c *typedConv) replyTo(data *dataObj, target []byte) {
	c.b.ev.ReplyToMessageID = string(target)
	msg := c.lookup(c.lookup(data.resolved, []byte("messages")), target)
	if msg.kind != jObject {
		return
	}
	var id, content, author, member, globalName, userName, nick jvalue
	c.fieldsOf(msg, []string{"id", "content", "author", "member"}, []*jvalue{&id, &content, &author, &member})
	c.fieldsOf(author, []string{"global_name", "username"}, []*jvalue{&globalName, &userName})
	c.fieldsOf(member, []string{"nick"}, []*jvalue{&nick})
	if s := c.truthyString(id); s != "" {
		c.b.ev.ReplyToMessageID = s
	}
	c.b.ev.ReplyToText = c.truthyString(content)
	c.b.ev.ReplyToAuthorName = c.firstTruthy(nick, globalName, userName)
}

// component mirrors builder.component.
func (c *typedConv) component(data *dataObj) {
	customID := c.truthyString(data.customID)
	c.b.ev.Text = customID

	if data.componentType.isNumber(3, 5, 6, 7, 8) && data.values.kind == jArray {
		values := c.renderList(data.values)
		c.b.setMeta(MetaValues, anyStrings(values))
		if len(values) > 0 {
			if customID != "" {
				c.b.ev.Text = customID + " " + strings.Join(values, " ")
			} else {
				c.b.ev.Text = strings.Join(values, " ")
			}
		}
	}

	if promptID, optionID, ok := ParsePromptToken(customID); ok {
		c.b.ev.PromptResponse = &pluginapi.PromptResponse{
			PromptID:        promptID,
			OptionID:        optionID,
			PromptMessageID: c.b.ev.Source.MessageID,
		}
		c.b.ev.Text = "/" + optionID
		c.b.ev.MessageType = pluginapi.MessageTypeCommand
	}
}

// renderList mirrors renderList for the array v.
func (c *typedConv) renderList(v jvalue) []string {
	out := []string{}
	d, isList := elements(v)
	if !isList {
		return out
	}
	for first := true; ; first = false {
		end, ok := d.nextElement(first)
		if !ok {
			c.scanFailed()
			return out
		}
		if end {
			return out
		}
		var e jvalue
		if !d.scalar(&e) {
			c.scanFailed()
			return out
		}
		if !e.isNull() {
			out = append(out, c.renderString(e))
		}
	}
}

// modalNode is one object met by the modal walk.
type modalNode struct {
	customID, value, values, typ, components, component jvalue
}

// modal mirrors builder.modal.
func (c *typedConv) modal(data *dataObj) {
	out := modalFields{fields: []any{}}
	c.walk(data, data.components, 1, &out)
	c.b.ev.Text = strings.Join(out.lines, "\n")
	c.b.setMeta(MetaModalFields, out.fields)
	if id := c.truthyString(data.customID); id != "" {
		c.b.setMeta(MetaModalCustomID, id)
	}
}

// modalFields collects the fields of one modal submission (see modalWalk).
// It holds only what it collects: a pointer to the converter in here would
// make the escape analysis move the converter to the heap.
type modalFields struct {
	lines  []string
	fields []any
}

// walk mirrors modalWalk.walk.
func (c *typedConv) walk(data *dataObj, node jvalue, depth int, out *modalFields) {
	if depth > MaxDepth {
		return
	}
	switch node.kind {
	case jArray:
		d, _ := elements(node)
		for first := true; ; first = false {
			end, ok := d.nextElement(first)
			if !ok {
				c.scanFailed()
				return
			}
			if end {
				return
			}
			var child jvalue
			if !d.scalar(&child) {
				c.scanFailed()
				return
			}
			c.walk(data, child, depth+1, out)
		}
	case jObject:
		var n modalNode
		c.fieldsOf(node, []string{"custom_id", "value", "values", "type", "components", "component"},
			[]*jvalue{&n.customID, &n.value, &n.values, &n.typ, &n.components, &n.component})
		c.leaf(data, &n, out)
		c.walk(data, n.components, depth+1, out)
		c.walk(data, n.component, depth+1, out)
	}
}

// leaf mirrors modalWalk.leaf.
func (c *typedConv) leaf(data *dataObj, n *modalNode, out *modalFields) {
	if n.customID.isNull() {
		return
	}
	customID := c.renderString(n.customID)
	field := map[string]any{"custom_id": customID}
	var value string
	switch {
	case n.value.kind != jAbsent:
		value = c.renderString(n.value)
	case n.values.kind != jAbsent:
		var values []string
		switch n.values.kind {
		case jNull:
		case jArray:
			values = c.renderList(n.values)
		default:
			values = []string{c.renderString(n.values)}
		}
		field["values"] = anyStrings(values)
		shown := values
		if n.typ.isNumber(componentFileUpload) {
			shown = make([]string, len(values))
			for i, id := range values {
				shown[i] = string(c.attachment(data, []byte(id)))
			}
		}
		value = strings.Join(shown, ",")
	default:
		return
	}
	field["value"] = value
	out.fields = append(out.fields, field)
	out.lines = append(out.lines, customID+"="+value)
}
