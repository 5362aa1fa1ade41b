package serde

import (
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/heraldhq/herald/registry/protobuf"
)

// findMessage finds a message, nested ones included, by full name.
func findMessage(s *protobuf.Schema, name string) protoreflect.MessageDescriptor {
	d := s.File.Messages()
	var walk func(ms protoreflect.MessageDescriptors) protoreflect.MessageDescriptor
	walk = func(ms protoreflect.MessageDescriptors) protoreflect.MessageDescriptor {
		for i := range ms.Len() {
			m := ms.Get(i)
			if string(m.FullName()) == name {
				return m
			}
			if f := walk(m.Messages()); f != nil {
				return f
			}
		}
		return nil
	}
	return walk(d)
}
