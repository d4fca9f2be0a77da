# Writes a copy of a model folder whose ternarizable projections hold the dequantized values s * t of a
# tools/ptq rule (f16 scales, one per 256-block). `bitflash convert --outtype tq2_0 --ternary-scales
# block-mse` stores such a tensor exactly (the MSE-optimal scale of a block {-s, 0, s} is s), so the
# calibrated rules reach a GGUF without a calibration pass in C++.
#   OMP_NUM_THREADS=1 nice -n 15 /usr/bin/python3 tools/ptq/export_ternarized.py --rule gptq-row --out DIR
import argparse
import os
import shutil

import run_ptq as rp
import sambay_torch as st


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rule", required=True, help="a tools/ptq/run_ptq.py variant with 2.0625 bits (e.g. gptq-row-seq)")
    ap.add_argument("--model", default=rp.TWIN)
    ap.add_argument("--out", required=True)
    ap.add_argument("--calib-n", type=int, default=256)
    ap.add_argument("--write-calib", metavar="FILE",
                    help="also write the calibration texts, concatenated (for bitflash --calib FILE)")
    args = ap.parse_args()
    if args.write_calib:
        with open(args.write_calib, "w") as f:
            f.write("".join(t for _, t in rp.calib_texts(args.calib_n)))
    tok, cfg_dict, ref = rp.load(args.model)
    H, table = rp.calibration(ref, tok, args.calib_n)
    model, _, bits = rp.build(args.rule, cfg_dict, ref, tok, H, table, args.calib_n)
    if bits != 2.0625:
        raise SystemExit(f"{args.rule} is not one TQ2_0 plane ({bits} bits/weight)")
    os.makedirs(args.out, exist_ok=True)
    for f in os.listdir(args.model):
        if f != "model.safetensors":
            shutil.copy(os.path.join(args.model, f), args.out)
    sd = {k: v for k, v in ref.state_dict().items()}
    for name, mod in rp.bitlinears(model):
        sd[name + ".weight"] = mod.weight.detach()
    st.save_safetensors(os.path.join(args.out, "model.safetensors"), sd)
    print(f"wrote {args.out} ({args.rule})")


if __name__ == "__main__":
    main()
