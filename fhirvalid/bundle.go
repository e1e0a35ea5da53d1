package fhirvalid

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
)

type bundleJSON struct {
	Type       string          `json:"type"`
	Total      json.RawMessage `json:"total"`
	Identifier *struct {
		System string `json:"system"`
		Value  string `json:"value"`
	} `json:"identifier"`
	Timestamp string `json:"timestamp"`
	Entry     []struct {
		FullURL  string          `json:"fullUrl"`
		Request  json.RawMessage `json:"request"`
		Response json.RawMessage `json:"response"`
		Search   json.RawMessage `json:"search"`
		Resource *struct {
			ResourceType string `json:"resourceType"`
			ID           string `json:"id"`
			Meta         *struct {
				VersionID string `json:"versionId"`
			} `json:"meta"`
		} `json:"resource"`
	} `json:"entry"`
}

// checkBundle applies the R4 Bundle invariants that jsonformat does not
// (it checks no FHIRPath invariants): bdl-1..4, bdl-7..12. It also records
// each entry's fullUrl so problems inside entries can name it.
func checkBundle(b []byte, c *collector) {
	var bd bundleJSON
	if err := json.Unmarshal(b, &bd); err != nil {
		return // shape errors are reported by jsonformat
	}
	c.fullURLs = make(map[int]string, len(bd.Entry))
	for i, e := range bd.Entry {
		if e.FullURL != "" {
			c.fullURLs[i] = e.FullURL
		}
	}
	t := bd.Type
	if len(bd.Total) > 0 && t != "searchset" && t != "history" {
		c.add("Bundle.total", CodeInvalid, "bdl-1: total only when a search or history")
	}
	first := map[string]int{} // fullUrl+versionId → first entry index
	for i, e := range bd.Entry {
		ep := fmt.Sprintf("Bundle.entry[%d]", i)
		if len(e.Search) > 0 && t != "searchset" {
			c.add(ep+".search", CodeInvalid, "bdl-2: entry.search only when a search")
		}
		hasReq, hasResp := len(e.Request) > 0, len(e.Response) > 0
		switch t {
		case "batch", "transaction", "history":
			if !hasReq {
				c.add(ep, CodeInvalid, "bdl-3: entry.request mandatory for batch/transaction/history")
			}
		default:
			if hasReq {
				c.add(ep+".request", CodeInvalid, "bdl-3: entry.request only for batch/transaction/history")
			}
		}
		switch t {
		case "batch-response", "transaction-response", "history":
			if !hasResp {
				c.add(ep, CodeInvalid, "bdl-4: entry.response mandatory for batch-response/transaction-response/history")
			}
		default:
			if hasResp {
				c.add(ep+".response", CodeInvalid, "bdl-4: entry.response only for batch-response/transaction-response/history")
			}
		}
		if e.Resource == nil && !hasReq && !hasResp {
			c.add(ep, CodeInvalid, "bdl-5: entry must have a resource unless there's a request or response")
		}
		if strings.Contains(e.FullURL, "/_history/") {
			c.add(ep+".fullUrl", CodeInvalid, "bdl-8: fullUrl cannot be a version specific reference")
		}
		if e.FullURL != "" {
			checkFullURL(e.FullURL, e.Resource, ep, c)
			key := e.FullURL
			if e.Resource != nil && e.Resource.Meta != nil {
				key += "\x00" + e.Resource.Meta.VersionID
			}
			if j, dup := first[key]; dup {
				c.add(ep+".fullUrl", CodeInvalid,
					fmt.Sprintf("bdl-7: fullUrl must be unique in a bundle, or else entries with the same fullUrl must have different meta.versionId (same as entry[%d])", j))
			} else {
				first[key] = i
			}
		}
	}
	firstType := ""
	if len(bd.Entry) > 0 && bd.Entry[0].Resource != nil {
		firstType = bd.Entry[0].Resource.ResourceType
	}
	switch t {
	case "document":
		if bd.Identifier == nil || bd.Identifier.System == "" || bd.Identifier.Value == "" {
			c.add("Bundle", CodeInvalid, "bdl-9: a document must have an identifier with a system and a value")
		}
		if bd.Timestamp == "" {
			c.add("Bundle", CodeInvalid, "bdl-10: a document must have a date (timestamp)")
		}
		if firstType != "Composition" {
			c.add("Bundle", CodeInvalid, "bdl-11: a document must have a Composition as the first resource")
		}
	case "message":
		if firstType != "MessageHeader" {
			c.add("Bundle", CodeInvalid, "bdl-12: a message must have a MessageHeader as the first resource")
		}
	}
}

// checkFullURL: fullUrl is an absolute URL; a RESTful (http/https) one
// ends with the entry resource's Type/id when the resource has an id.
func checkFullURL(fu string, res *struct {
	ResourceType string `json:"resourceType"`
	ID           string `json:"id"`
	Meta         *struct {
		VersionID string `json:"versionId"`
	} `json:"meta"`
}, ep string, c *collector) {
	u, err := url.Parse(fu)
	if err != nil || !u.IsAbs() {
		c.add(ep+".fullUrl", CodeInvalid, "fullUrl must be an absolute URL (e.g. urn:uuid:... or https://server/Type/id)")
		return
	}
	if res == nil || res.ID == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return
	}
	if !strings.HasSuffix(u.Path, "/"+res.ResourceType+"/"+res.ID) {
		c.add(ep+".fullUrl", CodeInvalid, "fullUrl must end with the entry resource's Type/id")
	}
}
