package protobuf

import (
	"google.golang.org/protobuf/reflect/protoreflect"
)

func (c *checker) checkMessage(r, w protoreflect.MessageDescriptor) {
	wf := w.Fields()
	for i := range wf.Len() {
		f := wf.Get(i)
		rf := r.Fields().ByNumber(f.Number())
		if rf == nil {
			c.checkRemoved(r, f)
			continue
		}
		c.checkField(rf, f)
	}
	rfs := r.Fields()
	for i := range rfs.Len() {
		f := rfs.Get(i)
		if wf.ByNumber(f.Number()) == nil {
			c.checkAdded(w, f)
		}
	}
	c.checkOneofs(r, w)
}

// checkRemoved: the writer's field f has no field with its number in r.
func (c *checker) checkRemoved(r protoreflect.MessageDescriptor, f protoreflect.FieldDescriptor) {
	if rf := r.Fields().ByName(f.Name()); rf != nil {
		c.add("FIELD_RENUMBERED", string(f.FullName()), "The field %s changed its number from %d to %d: data written with one schema is silently dropped by the other (add a new field and reserve the old number instead)", f.FullName(), f.Number(), rf.Number())
		return
	}
	if f.Cardinality() == protoreflect.Required {
		c.add("REQUIRED_FIELD_REMOVED", string(f.FullName()), "The required field %s = %d was removed", f.FullName(), f.Number())
	}
}

// checkAdded: the reader's field f has no field with its number in w.
func (c *checker) checkAdded(w protoreflect.MessageDescriptor, f protoreflect.FieldDescriptor) {
	if w.ReservedRanges().Has(f.Number()) {
		c.add("FIELD_USES_RESERVED_NUMBER", string(f.FullName()), "The new field %s = %d uses a number the old schema reserved", f.FullName(), f.Number())
	}
	if w.ReservedNames().Has(f.Name()) {
		c.add("FIELD_USES_RESERVED_NAME", string(f.FullName()), "The new field %s uses a name the old schema reserved", f.FullName())
	}
	if f.Cardinality() == protoreflect.Required {
		c.add("REQUIRED_FIELD_ADDED", string(f.FullName()), "The new field %s = %d is required", f.FullName(), f.Number())
	}
}

// wireGroup numbers the kinds whose values can be read as one another.
func wireGroup(k protoreflect.Kind) int {
	switch k {
	case protoreflect.Int32Kind, protoreflect.Uint32Kind, protoreflect.Int64Kind, protoreflect.Uint64Kind, protoreflect.BoolKind:
		return 1
	case protoreflect.Sint32Kind, protoreflect.Sint64Kind:
		return 2
	case protoreflect.Fixed32Kind, protoreflect.Sfixed32Kind:
		return 3
	case protoreflect.Fixed64Kind, protoreflect.Sfixed64Kind:
		return 4
	case protoreflect.StringKind, protoreflect.BytesKind:
		return 5
	case protoreflect.FloatKind:
		return 6
	case protoreflect.DoubleKind:
		return 7
	}
	return 0
}

func named(k protoreflect.Kind) bool {
	return k == protoreflect.MessageKind || k == protoreflect.GroupKind || k == protoreflect.EnumKind
}

func typeName(f protoreflect.FieldDescriptor) protoreflect.FullName {
	if f.Message() != nil {
		return f.Message().FullName()
	}
	if f.Enum() != nil {
		return f.Enum().FullName()
	}
	return ""
}

func (c *checker) checkField(r, w protoreflect.FieldDescriptor) {
	path := string(r.FullName())
	rk, wk := r.Kind(), w.Kind()
	switch {
	case r.IsMap() != w.IsMap() || named(rk) != named(wk):
		c.add("FIELD_KIND_CHANGED", path, "The field %s = %d changed kind from %s to %s", r.FullName(), r.Number(), kindName(w), kindName(r))
	case r.IsMap():
		if !mapCompatible(r, w) {
			c.add("FIELD_NAMED_TYPE_CHANGED", path, "The map field %s = %d changed type from %s to %s", r.FullName(), r.Number(), mapName(w), mapName(r))
		}
	case named(rk):
		if typeName(r) != typeName(w) {
			c.add("FIELD_NAMED_TYPE_CHANGED", path, "The field %s = %d changed type from %s to %s", r.FullName(), r.Number(), typeName(w), typeName(r))
		}
	case wireGroup(rk) != wireGroup(wk):
		c.add("FIELD_SCALAR_KIND_CHANGED", path, "The field %s = %d changed type from %s to %s, which are not wire-compatible", r.FullName(), r.Number(), wk, rk)
	}
	if r.Cardinality() == protoreflect.Required && w.Cardinality() != protoreflect.Required {
		c.add("REQUIRED_FIELD_ADDED", path, "The field %s = %d became required", r.FullName(), r.Number())
	}
	if w.Cardinality() == protoreflect.Required && r.Cardinality() != protoreflect.Required {
		c.add("REQUIRED_FIELD_REMOVED", path, "The field %s = %d is no longer required", r.FullName(), r.Number())
	}
}

func mapCompatible(r, w protoreflect.FieldDescriptor) bool {
	return wireGroup(r.MapKey().Kind()) == wireGroup(w.MapKey().Kind()) &&
		r.MapValue().Kind() == w.MapValue().Kind() && typeName(r.MapValue()) == typeName(w.MapValue())
}

func mapName(f protoreflect.FieldDescriptor) string {
	return "map<" + kindName(f.MapKey()) + ", " + kindName(f.MapValue()) + ">"
}

func kindName(f protoreflect.FieldDescriptor) string {
	if f.IsMap() {
		return "map"
	}
	if n := typeName(f); n != "" {
		return f.Kind().String() + " " + string(n)
	}
	return f.Kind().String()
}

// checkOneofs flags fields the reader moves into a oneof: into one the
// writer already had, or several into a new one. Either way a message the
// writer wrote with several of them set loses all but one.
func (c *checker) checkOneofs(r, w protoreflect.MessageDescriptor) {
	os := r.Oneofs()
	for i := range os.Len() {
		o := os.Get(i)
		if o.IsSynthetic() {
			continue
		}
		existing := w.Oneofs().ByName(o.Name()) != nil
		moved := 0
		fs := o.Fields()
		for j := range fs.Len() {
			f := fs.Get(j)
			wf := w.Fields().ByNumber(f.Number())
			if wf == nil || (wf.ContainingOneof() != nil && !wf.ContainingOneof().IsSynthetic()) {
				continue
			}
			moved++
			if existing {
				c.add("FIELD_MOVED_TO_EXISTING_ONEOF", string(f.FullName()), "The field %s = %d was moved into the existing oneof %s", f.FullName(), f.Number(), o.Name())
			}
		}
		if !existing && moved > 1 {
			c.add("MULTIPLE_FIELDS_MOVED_TO_ONEOF", string(o.FullName()), "%d existing fields were moved into the new oneof %s", moved, o.FullName())
		}
	}
}
