import sys; sys.path.append(".cache/devdeps")
import torch,time,open_clip,torch.nn.functional as F
from ramt.masks import *
from ramt.gdr import *
from tests.masks._models import tiny_clip
d='cuda';m=tiny_clip().to(d);v=m.visual;ms=MaskSet.from_module(v)
x=torch.randn(4,3,224,224,device=d)
with torch.no_grad():print('eq0',torch.equal(masked_forward(v,ms,x),v(x)))
with torch.autocast('cuda',dtype=torch.bfloat16):o=masked_forward(v,ms,x)
o.float().sum().backward();print('bf16',o.dtype,ms.flat.grad.dtype,ms.flat.grad.abs().sum().item())
with torch.no_grad():
 ms.flat[::7]=0;print('fold',torch.equal(folded_copy(v,ms)(x),masked_forward(v,ms,x)))
from open_clip.transformer import VisionTransformer,QuickGELU
V=VisionTransformer(224,16,768,12,12,4.0,output_dim=512,act_layer=QuickGELU).to(d).eval().requires_grad_(False)
M=MaskSet.from_module(V);print(M.num_entries)
T=F.normalize(torch.randn(100,512,device=d),dim=-1);X=torch.randn(32,3,224,224,device=d);Y=torch.randint(0,100,(32,),device=d)
opt=torch.optim.Adam([M.flat],lr=8e-5,fused=True)
def step():
 with torch.autocast('cuda',dtype=torch.bfloat16):
  z=100*F.normalize(masked_forward(V,M,X).float(),dim=-1)@T.t()
  with torch.no_grad():z0=100*F.normalize(V(X).float(),dim=-1)@T.t()
 la=F.cross_entropy(z,Y)+1e-4*M.norm_loss();lk=soft_target_ce(z,z0)
 M.flat.grad=gdr_mask_gradient(la,lk,M.flat,1.0,check_finite=False);opt.step()
for _ in range(3):step()
torch.cuda.synchronize();torch.cuda.reset_peak_memory_stats();t=time.time()
for _ in range(20):step()
torch.cuda.synchronize();print('step ms',(time.time()-t)/20*1e3,'peak GiB',torch.cuda.max_memory_allocated()/2**30)
print('finite',torch.isfinite(M.flat).all().item())
ga=torch.randn(M.num_entries,device=d);gb=torch.randn_like(ga);torch.cuda.synchronize();t=time.time()
for _ in range(20):gradient_dropout(ga,gb,0.3)
torch.cuda.synchronize();print('gdr ms',(time.time()-t)/20*1e3)
t=time.time();p=pack_masks(M);print('pack s',time.time()-t,sum(e['bits'].numel() for e in p['masks']))
t=time.time();load_packed_masks_(M,p);torch.cuda.synchronize();print('load s',time.time()-t);print(format_sparsity(sparsity_report(M,86192640,149620737)))
