module typelayout

go 1.24
