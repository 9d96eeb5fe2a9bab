package api

import "time"

// The wire types of the network listing (GET /network, admin).

// Member states.
const (
	Alive   = "alive"
	Suspect = "suspect"
	Gone    = "gone"
)

// Member is a node of the network as a node knows it.
type Member struct {
	ID          string    `json:"id"`  // the node's address, lowercase
	URL         string    `json:"url"` // its HTTP base URL
	Gossip      string    `json:"gossip"`
	State       string    `json:"state"`
	Since       time.Time `json:"since"`        // when it entered this state
	LastContact time.Time `json:"last_contact"` // last successful probe or exchange
	Self        bool      `json:"self,omitempty"`
}
