module allocstats

go 1.24
