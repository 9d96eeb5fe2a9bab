package storlets
