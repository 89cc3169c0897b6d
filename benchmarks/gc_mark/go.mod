module gcmark

go 1.24
