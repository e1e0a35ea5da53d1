package hl7

// header reads MSH field n, repetition 1, component c (0 for the whole
// repetition), decoded.
func (m *Message) header(n, c int) string {
	seg := m.Segment("MSH", 1)
	if seg == nil {
		return ""
	}
	f := seg.Field(n).Repetition(1)
	if c > 0 {
		f = f.Component(c)
	}
	return f.String()
}

// ControlID returns MSH-10, the message control ID.
func (m *Message) ControlID() string { return m.header(10, 1) }

// MessageCode returns MSH-9.1, such as "ADT".
func (m *Message) MessageCode() string { return m.header(9, 1) }

// TriggerEvent returns MSH-9.2, such as "A01".
func (m *Message) TriggerEvent() string { return m.header(9, 2) }

// Structure returns MSH-9.3, the message structure, such as "ADT_A01".
func (m *Message) Structure() string { return m.header(9, 3) }

// Type returns the message code and trigger event joined by '^' whatever
// the message's delimiters, such as "ADT^A01", or the code alone when there
// is no trigger event.
func (m *Message) Type() string {
	code, trigger := m.MessageCode(), m.TriggerEvent()
	if trigger == "" {
		return code
	}
	return code + "^" + trigger
}

// Version returns MSH-12.1, the version ID, such as "2.5.1".
func (m *Message) Version() string { return m.header(12, 1) }

// ProcessingID returns MSH-11.1, such as "P".
func (m *Message) ProcessingID() string { return m.header(11, 1) }

// hd returns HD.1 of MSH field n when valued, else the field's wire text.
func (m *Message) hd(n int) string {
	if v := m.header(n, 1); v != "" {
		return v
	}
	return m.header(n, 0)
}

// SendingApplication returns MSH-3.1 (HD namespace ID) when valued, else
// the whole of MSH-3 as received (such as "^1.2.3^ISO").
func (m *Message) SendingApplication() string { return m.hd(3) }

// SendingFacility returns MSH-4.1 when valued, else the whole of MSH-4.
func (m *Message) SendingFacility() string { return m.hd(4) }

// ReceivingApplication returns MSH-5.1 when valued, else the whole of MSH-5.
func (m *Message) ReceivingApplication() string { return m.hd(5) }

// ReceivingFacility returns MSH-6.1 when valued, else the whole of MSH-6.
func (m *Message) ReceivingFacility() string { return m.hd(6) }
