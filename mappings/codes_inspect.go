package mappings

import "sort"

// CodeMapNames lists the names of the set's code maps, sorted.
func (s *Set) CodeMapNames() []string {
	names := make([]string, 0, len(s.codes))
	for n := range s.codes {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// CodeMapping looks a v2 code up in the named code map (without any sender
// overlay) and returns the FHIR system, code and display it maps to.
func (s *Set) CodeMapping(name, code string) (system, mapped, display string, ok bool) {
	cm, found := s.codes[name]
	if !found {
		return "", "", "", false
	}
	t, found := cm.codes[code]
	if !found {
		return "", "", "", false
	}
	system = t.System
	if system == "" {
		system = cm.target
	}
	return system, t.Code, t.Display, true
}
