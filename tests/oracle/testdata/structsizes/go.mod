module gsz

go 1.24
