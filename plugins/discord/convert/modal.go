package convert

import "strings"

// componentFileUpload is the File Upload component type (modals only).
const componentFileUpload = 19

// modal renders a MODAL_SUBMIT (plugins/discord/README.md, "MODAL_SUBMIT
// (type 5)"): one "custom_id=value" line per submitted field, depth-first
// from data.components through legacy action rows (components) and Label
// wrappers (component). Text inputs, radio groups and checkboxes carry value;
// selects carry values, joined with ","; file uploads carry attachment ids,
// shown as filenames and added as media.
func (b *builder) modal(data map[string]any) {
	w := modalWalk{b: b, data: data, fields: []any{}}
	w.walk(data["components"], 1)
	b.ev.Text = strings.Join(w.lines, "\n")
	b.setMeta(MetaModalFields, w.fields)
	if id := truthyString(data["custom_id"]); id != "" {
		b.setMeta(MetaModalCustomID, id)
	}
}

// modalWalk collects the fields of one modal submission.
type modalWalk struct {
	b      *builder
	data   map[string]any
	lines  []string
	fields []any
}

// walk visits lists and objects depth-first; depth is the component nesting
// level, capped at MaxDepth (a parsed body cannot nest deeper anyway).
func (w *modalWalk) walk(node any, depth int) {
	if depth > MaxDepth {
		return
	}
	switch n := node.(type) {
	case []any:
		for _, child := range n {
			w.walk(child, depth+1)
		}
	case map[string]any:
		w.leaf(n)
		w.walk(n["components"], depth+1)
		w.walk(n["component"], depth+1)
	}
}

// leaf collects n when it is a submitted field: a non-null custom_id and a
// value key (kept even when empty; null becomes ""), else a values key.
func (w *modalWalk) leaf(n map[string]any) {
	rawID := n["custom_id"]
	if rawID == nil {
		return
	}
	customID := render(rawID)
	field := map[string]any{"custom_id": customID}
	var value string
	if v, ok := n["value"]; ok {
		value = render(v)
	} else if vs, ok := n["values"]; ok {
		var values []string
		switch list := vs.(type) {
		case nil:
		case []any:
			values = renderList(list)
		default:
			values = []string{render(list)}
		}
		field["values"] = anyStrings(values)
		shown := values
		if isNumber(n["type"], componentFileUpload) {
			shown = make([]string, len(values))
			for i, id := range values {
				shown[i] = w.b.attachment(w.data, id)
			}
		}
		value = strings.Join(shown, ",")
	} else {
		return
	}
	field["value"] = value
	w.fields = append(w.fields, field)
	w.lines = append(w.lines, customID+"="+value)
}
