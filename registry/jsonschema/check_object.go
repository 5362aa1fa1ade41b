package jsonschema

import "strings"

// contentModel is an object schema's additionalProperties: open (absent or
// true), closed (false) or a schema.
type contentModel struct {
	open   bool
	closed bool
	schema any // for a partially open model
}

func model(m map[string]any) contentModel {
	switch a := m["additionalProperties"].(type) {
	case nil:
		return contentModel{open: true}
	case bool:
		return contentModel{open: a, closed: !a}
	default:
		return contentModel{schema: a}
	}
}

func props(m map[string]any) map[string]any {
	p, _ := m["properties"].(map[string]any)
	return p
}

func required(m map[string]any) map[string]bool {
	out := map[string]bool{}
	if rs, ok := m["required"].([]any); ok {
		for _, r := range rs {
			if s, ok := r.(string); ok {
				out[s] = true
			}
		}
	}
	return out
}

func hasDefault(n any) bool {
	m, ok := n.(map[string]any)
	if !ok {
		return false
	}
	_, ok = m["default"]
	return ok
}

func escape(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

func (c *checker) checkObject(r, w side, rm, wm map[string]any, path string) {
	if !may(rm, "object") || !may(wm, "object") {
		return
	}
	rp, wp := props(rm), props(wm)
	rmod, wmod := model(rm), model(wm)
	for _, name := range sortedKeys(rp) {
		ppath := path + "/properties/" + escape(name)
		if wn, ok := wp[name]; ok {
			c.check(side{rp[name], r.root}, side{wn, w.root}, ppath)
			continue
		}
		c.checkAddedProperty(r, w, rp[name], wmod, name, ppath)
	}
	for _, name := range sortedKeys(wp) {
		if _, ok := rp[name]; ok {
			continue
		}
		ppath := path + "/properties/" + escape(name)
		switch {
		case rmod.closed:
			c.add("PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL", ppath, "The new schema has a closed content model and is missing the property '%s' at path '%s' that the old schema has", name, ppath)
		case rmod.schema != nil:
			c.check(side{rmod.schema, r.root}, side{wp[name], w.root}, ppath)
		}
	}
	c.checkModel(r, w, rmod, wmod, path)
	c.checkRequired(rm, wm, rp, path)
}

func (c *checker) checkAddedProperty(r, w side, rn any, wmod contentModel, name, ppath string) {
	switch {
	case wmod.closed:
		// No old data has the property.
	case wmod.schema != nil:
		c.check(side{rn, r.root}, side{wmod.schema, w.root}, ppath)
	case !c.opt.Lenient:
		c.add("PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL", ppath, "The new schema adds the property '%s' at path '%s', but the old schema has an open content model, so old data may hold '%s' with any value (close the old schema with additionalProperties: false, or use the lenient JSON policy)", name, ppath, name)
	}
}

func (c *checker) checkModel(r, w side, rmod, wmod contentModel, path string) {
	apath := path + "/additionalProperties"
	switch {
	case wmod.closed || rmod.open:
	case rmod.closed:
		c.add("ADDITIONAL_PROPERTIES_REMOVED", apath, "The new schema closes the content model at path '%s' that the old schema left open", path)
	case wmod.open:
		c.add("ADDITIONAL_PROPERTIES_NARROWED", apath, "The new schema restricts additional properties at path '%s' that the old schema allowed with any value", path)
	default:
		c.check(side{rmod.schema, r.root}, side{wmod.schema, w.root}, apath)
	}
}

func (c *checker) checkRequired(rm, wm map[string]any, rp map[string]any, path string) {
	rr, wr := required(rm), required(wm)
	for _, name := range sortedKeys(rr) {
		if wr[name] || hasDefault(rp[name]) {
			continue
		}
		c.add("REQUIRED_PROPERTY_ADDED", path+"/required", "The new schema requires the property '%s' at path '%s', which the old schema did not require, and it has no default", name, path)
	}
}

func (c *checker) checkArray(r, w side, rm, wm map[string]any, path string) {
	if !may(rm, "array") || !may(wm, "array") {
		return
	}
	ri, rok := rm["items"]
	if !rok {
		return
	}
	wi, wok := wm["items"]
	if !wok {
		wi = true
	}
	c.check(side{ri, r.root}, side{wi, w.root}, path+"/items")
}

// checkCombined handles oneOf/anyOf: every writer alternative must be
// accepted by some reader alternative. It returns true if it handled the
// pair.
func (c *checker) checkCombined(r, w side, rm, wm map[string]any, path string) bool {
	ralt, rkey := alternatives(rm)
	walt, _ := alternatives(wm)
	if ralt == nil && walt == nil {
		return false
	}
	if walt == nil {
		walt = []any{wm}
	}
	for i, wa := range walt {
		if ralt == nil {
			c.check(r, side{wa, w.root}, path)
			continue
		}
		if !c.anyAccepts(r, ralt, side{wa, w.root}) {
			c.add("COMBINED_TYPE_SUBSCHEMAS_CHANGED", path+"/"+rkey, "No alternative of the new schema at path '%s' accepts alternative %d of the old schema", path, i)
		}
	}
	return true
}

func alternatives(m map[string]any) ([]any, string) {
	for _, k := range []string{"oneOf", "anyOf"} {
		if a, ok := m[k].([]any); ok {
			return a, k
		}
	}
	return nil, ""
}

func (c *checker) anyAccepts(r side, ralt []any, w side) bool {
	for _, ra := range ralt {
		sub := &checker{opt: c.opt, r: c.r, w: c.w, seen: c.seen}
		sub.check(side{ra, r.root}, w, "#")
		if len(sub.issues) == 0 {
			return true
		}
	}
	return false
}
