module selfmaps

go 1.24
