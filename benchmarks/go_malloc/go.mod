module gomalloc

go 1.24
